"""StereoNet on SceneFlow (finalpass): the full training recipe (HAT's reference configuration).

Stages: ``float`` -> ``calibration`` -> ``qat`` -> ``int_infer``; select one with
``tools/train.py --stage X`` / ``tools/predict.py --stage X``. Data: pack SceneFlow first with
``tools/datasets/sceneflow_packer.py`` (train_lmdb / test_lmdb under ``data_rootdir``); the
on-board check (``validation_hbir.py --stage align_bpu``) reads the original PNG/PFM files under
``orig_data_rootdir`` with their list file.

The recipe trains on 8 GPUs with 16 pairs per GPU on 256x512 crops and evaluates on the full
540x960 test images (EPE and D1 on pixels with 0 < gt < maxdisp). Images are normalised YUV444
(the deployed model's input), done as batch transforms so that inference tools apply the same
preprocessing. ``stereonet_stereonetneck_sceneflow_demo.py`` derives a small version for 2 CPU
cores on synthetic data.
"""

import os

import torch
from torch import nn

from hat.data.collates import collate_2d

task_name = "stereonet_stereonetneck_sceneflow"
training_step = os.environ.get("HAT_TRAINING_STEP", "float")

num_machines = 1
device_ids = [0, 1, 2, 3, 4, 5, 6, 7]
train_batch_size_per_gpu = 16
test_batch_size_per_gpu = 4
base_lr = 1e-3
num_epochs = 200
warmup_epochs = 10
data_num_workers = 4
ckpt_dir = f"./tmp_models/{task_name}"
data_rootdir = "./tmp_data/SceneFlow/"
orig_data_rootdir = "./tmp_orig_data/SceneFlow/"
cudnn_benchmark = True
seed = None
log_rank_zero_only = True

# Model (HAT's StereoNet).
loss_weights = [0.3, 0.3, 0.5, 0.5, 1.0]
maxdisp = 192
use_bn = True
bias = False
bn_kwargs = {}
refine_levels = 4
out_channels = [32, 32, 64, 128, 128, 16]
crop_size = (256, 512)
deploy_size = (540, 960)

model = dict(
    type="StereoNet",
    backbone=dict(
        type="StereoNetNeck",
        out_channels=out_channels,
        use_bn=use_bn,
        bias=bias,
        bn_kwargs=bn_kwargs,
        act_type=nn.ReLU(),
    ),
    head=dict(
        type="StereoNetHead",
        maxdisp=maxdisp,
        bn_kwargs=bn_kwargs,
        refine_levels=refine_levels,
    ),
    post_process=dict(
        type="StereoNetPostProcess",
        maxdisp=maxdisp,
    ),
    loss=dict(type="SmoothL1Loss"),
    loss_weights=loss_weights,
)
deploy_inputs = dict(img=torch.randn((1, 6) + deploy_size))
# tools/infer.py and tools/infer_hbir.py:
#   --model-inputs imgl:PATH,imgr:PATH[,baseline:B,f:F,gt:PATH.pfm]
infer_cfg = dict(type="DisparityInfer", pad_multiple=2**refine_levels, max_disp=maxdisp)

# Data.
data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(
        type="SceneFlow",
        data_path=os.path.join(data_rootdir, "train_lmdb"),
        transforms=[
            dict(type="RandomCrop", size=crop_size),
            dict(type="ToTensor", to_yuv=False, use_yuv_v2=False),
        ],
    ),
    sampler=dict(type=torch.utils.data.DistributedSampler),
    batch_size=train_batch_size_per_gpu,
    pin_memory=True,
    shuffle=True,
    num_workers=data_num_workers,
    collate_fn=collate_2d,
)

val_data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(
        type="SceneFlow",
        data_path=os.path.join(data_rootdir, "test_lmdb"),
        transforms=[dict(type="ToTensor", to_yuv=False, use_yuv_v2=False)],
    ),
    batch_size=test_batch_size_per_gpu,
    shuffle=False,
    num_workers=data_num_workers,
    pin_memory=True,
    collate_fn=collate_2d,
)


def loss_collector(outputs: dict):
    """The weighted per-level losses of a StereoNet training forward."""
    return outputs["losses"]


image_transforms = [
    dict(type="BgrToYuv444", rgb_input=True),
    dict(type="TorchVisionAdapter", interface="Normalize", mean=128.0, std=128.0),
]

batch_processor = dict(
    type="MultiBatchProcessor",
    need_grad_update=True,
    batch_transforms=image_transforms,
    loss_collector=loss_collector,
)

val_batch_processor = dict(
    type="MultiBatchProcessor",
    need_grad_update=False,
    batch_transforms=image_transforms,
    loss_collector=None,
)


def update_loss(metrics, batch, model_outs):
    """Training metrics: ``[LossShow, EndPointError]``."""
    metrics[0].update(model_outs["losses"])
    for metric in metrics[1:]:
        metric.update(batch["gt_disp"], model_outs["disp"])


def update_metric(metrics, batch, model_outs):
    """Evaluation metrics (EPE, D1) on a disparity ``(B, 1, H, W)`` in pixels."""
    for metric in metrics:
        metric.update(batch["gt_disp"], model_outs)


def val_metrics():
    """EPE and D1 on pixels with 0 < gt < maxdisp (fresh dicts for every user)."""
    return [
        dict(type="EndPointError", use_mask=True, max_disp=maxdisp),
        dict(type="D1Error", use_mask=True, max_disp=maxdisp),
    ]


# Callbacks.
stat_callback = dict(type="StatsMonitor", log_freq=100)
loss_show_callback = dict(
    type="MetricUpdater",
    metric_update_func=update_loss,
    step_log_freq=50,
    epoch_log_freq=1,
    log_prefix="train_" + task_name,
)
val_metric_updater = dict(
    type="MetricUpdater",
    metric_update_func=update_metric,
    step_log_freq=10000,
    epoch_log_freq=1,
    log_prefix="Validation " + task_name,
)
val_callback = dict(
    type="Validation",
    data_loader=val_data_loader,
    batch_processor=val_batch_processor,
    callbacks=[val_metric_updater],
    val_model=None,
    init_with_train_model=True,
    val_interval=1,
    log_interval=200,
)
ckpt_callback = dict(
    type="Checkpoint",
    save_dir=ckpt_dir,
    name_prefix=training_step + "-",
    save_interval=1,
    strict_match=True,
    mode="min",
    monitor_metric_key="EPE",
)

float_trainer = dict(
    type="distributed_data_parallel_trainer",
    model=model,
    data_loader=data_loader,
    optimizer=dict(
        type=torch.optim.Adam,
        params={"weight": dict(weight_decay=4e-5)},
        lr=base_lr,
    ),
    batch_processor=batch_processor,
    stop_by="epoch",
    num_epochs=num_epochs,
    device=None,
    sync_bn=True,
    callbacks=[
        stat_callback,
        loss_show_callback,
        dict(
            type="CosLrUpdater",
            warmup_by="epoch",
            warmup_len=warmup_epochs,
            step_log_interval=1000,
        ),
        val_callback,
        ckpt_callback,
    ],
    train_metrics=[
        dict(type="LossShow"),
        dict(type="EndPointError", use_mask=True, max_disp=maxdisp),
    ],
    val_metrics=val_metrics(),
)

float_predictor = dict(
    type="Predictor",
    model=model,
    data_loader=[val_data_loader],
    batch_processor=val_batch_processor,
    device=None,
    metrics=val_metrics(),
    callbacks=[val_metric_updater],
    log_interval=50,
)

# ---------------------------------------------------------------------------------------------
# Quantization: calibration -> qat -> int_infer (-> export_hbir / validation_hbir align_bpu).
# Every stage rebuilds the float model and converts it with a ``model_convert_pipeline``; the
# checkpoint loaders are module-level dicts so derived configs can re-point them (the demo does).
# The disparity path (soft-argmin, refinement upsampling and residual adds) is int16 (see
# StereoNetHead); every convolution stays a uint8 x int8 integer kernel.
# ---------------------------------------------------------------------------------------------


def stage_best_ckpt(stage, directory=None):
    """``{ckpt_dir}/{stage}-checkpoint-best.pth.tar``."""
    return os.path.join(directory or ckpt_dir, f"{stage}-checkpoint-best.pth.tar")


float_ckpt_loader = dict(
    type="LoadCheckpoint", checkpoint_path=stage_best_ckpt("float"), allow_miss=True
)
calibration_ckpt_loader = dict(
    type="LoadCheckpoint", checkpoint_path=stage_best_ckpt("calibration")
)
qat_ckpt_loader = dict(type="LoadCheckpoint", checkpoint_path=stage_best_ckpt("qat"))
quant_ckpt_loaders = dict(
    float=float_ckpt_loader, calibration=calibration_ckpt_loader, qat=qat_ckpt_loader
)

# Calibration: training images with the validation transforms (no crop), percentile observer.
calibration_steps = 20
calibration_batch_size = train_batch_size_per_gpu
calibration_data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(
        type="SceneFlow",
        data_path=os.path.join(data_rootdir, "train_lmdb"),
        transforms=[dict(type="ToTensor", to_yuv=False, use_yuv_v2=False)],
    ),
    batch_size=calibration_batch_size,
    shuffle=True,
    num_workers=data_num_workers,
    pin_memory=True,
    collate_fn=collate_2d,
)
calibration_qconfig_params = dict(
    activation_calibration_observer="percentile",
    activation_calibration_qkwargs=dict(percentile=99.985, bins=8192),
)

calibration_trainer = dict(
    type="Calibrator",
    model=model,
    model_convert_pipeline=dict(
        type="ModelConvertPipeline",
        qat_mode="fuse_bn",
        qconfig_params=calibration_qconfig_params,
        converters=[float_ckpt_loader, dict(type="Float2Calibration")],
    ),
    data_loader=calibration_data_loader,
    batch_processor=val_batch_processor,
    num_steps=calibration_steps,
    device=None,
    log_interval=max(1, calibration_steps // 10),
    save_dir=ckpt_dir,
    name_prefix="calibration-",
)

# QAT: whole training images (validation transforms), 4 pairs per GPU, cosine from 5e-5.
qat_lr = 5e-5
qat_num_epochs = 40
qat_batch_size_per_gpu = 4
qat_data_loader = dict(
    data_loader,
    dataset=dict(data_loader["dataset"], transforms=val_data_loader["dataset"]["transforms"]),
    batch_size=qat_batch_size_per_gpu,
)
qat_trainer = dict(
    type="distributed_data_parallel_trainer",
    model=model,
    model_convert_pipeline=dict(
        type="ModelConvertPipeline",
        qat_mode="fuse_bn",
        converters=[
            dict(type="Float2QAT"),
            calibration_ckpt_loader,
            # keep observing activations with the library's default averaging constant (0.01)
            dict(type="Calibration2QAT", averaging_constant=None),
        ],
    ),
    data_loader=qat_data_loader,
    optimizer=dict(
        type=torch.optim.Adam,
        params={"weight": dict(weight_decay=4e-5)},
        lr=qat_lr,
    ),
    batch_processor=batch_processor,
    stop_by="epoch",
    num_epochs=qat_num_epochs,
    device=None,
    sync_bn=True,
    callbacks=[
        stat_callback,
        loss_show_callback,
        dict(type="CosLrUpdater", warmup_len=0, step_log_interval=1000),
        val_callback,
        ckpt_callback,
    ],
    train_metrics=[
        dict(type="LossShow"),
        dict(type="EndPointError", use_mask=True, max_disp=maxdisp),
    ],
    val_metrics=val_metrics(),
)


def _stage_predictor(converters, loader=None):
    return dict(
        type="Predictor",
        model=model,
        model_convert_pipeline=dict(
            type="ModelConvertPipeline", qat_mode="fuse_bn", converters=converters
        ),
        data_loader=[loader or val_data_loader],
        batch_processor=val_batch_processor,
        device=None,
        metrics=val_metrics(),
        callbacks=[val_metric_updater],
        log_interval=50,
    )


calibration_predictor = _stage_predictor(
    [dict(type="Float2QAT"), calibration_ckpt_loader, dict(type="SetFakeQuantState")]
)
qat_predictor = _stage_predictor(
    [dict(type="Float2QAT"), qat_ckpt_loader, dict(type="SetFakeQuantState")]
)
int_infer_predictor = _stage_predictor(
    [dict(type="Float2QAT"), qat_ckpt_loader, dict(type="QAT2Quantize")]
)
# On-board style validation: the original PNG/PFM test files at batch 1, deployment
# preprocessing (the val batch transforms).
align_bpu_data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(
        type="SceneFlowFromImage",
        data_path=orig_data_rootdir,
        split="test",
        transforms=[dict(type="ToTensor", to_yuv=False, use_yuv_v2=False)],
    ),
    batch_size=1,
    shuffle=False,
    num_workers=data_num_workers,
    pin_memory=True,
    collate_fn=collate_2d,
)
align_bpu_predictor = _stage_predictor(
    [dict(type="Float2QAT"), qat_ckpt_loader, dict(type="QAT2Quantize")], align_bpu_data_loader
)

# Accelerator described for compile_perf_hbir's analytical estimate (an estimate, not a
# measurement): peak int8 TOPS, DRAM bandwidth, and the fraction of peak a conv net reaches.
compile_cfg = dict(tops=96.0, bandwidth_gbps=68.0, efficiency=0.5, perf_runs=20, warmup_runs=3)
