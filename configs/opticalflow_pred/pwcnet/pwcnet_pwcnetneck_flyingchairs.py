"""PwcNet on FlyingChairs: the full training recipe (HAT's reference configuration).

Stages: ``float`` -> ``calibration`` -> ``qat`` -> ``int_infer``; select one with
``tools/train.py --stage X`` / ``tools/predict.py --stage X``. Data: pack FlyingChairs first with
``tools/datasets/flyingchairs_packer.py`` (train_lmdb / val_lmdb under ``data_rootdir``).

The recipe trains on 2 machines x 8 GPUs with 64 pairs per GPU; the learning rate follows the
total batch (1e-4 per 16 pairs). ``pwcnet_pwcnetneck_flyingchairs_demo.py`` derives a small
version of it for 2 CPU cores on synthetic data.
"""

import os

import numpy as np
import torch
from torch import nn

from hat.data.collates import collate_2d
from hat.data.transforms import InterpolationMode

task_name = "pwcnet_pwcnetneck_flyingchairs"
training_step = os.environ.get("HAT_TRAINING_STEP", "float")

num_machines = 2
device_ids = [0, 1, 2, 3, 4, 5, 6, 7]
batch_size_per_gpu = 64
total_batch_size = batch_size_per_gpu * len(device_ids) * num_machines
base_lr_per_16 = 1e-4
lr = base_lr_per_16 * total_batch_size / 16
# 1.2M iterations of 16 pairs over the 22232 training pairs.
max_epoch = 863
warmup_epochs = 10
data_num_workers = 4
ckpt_dir = f"./tmp_models/{task_name}"
data_rootdir = "./tmp_data/FlyingChairs/"
cudnn_benchmark = True
seed = None
log_rank_zero_only = True

# Model.
loss_weights = [0.005, 0.01, 0.02, 0.08, 0.32]
out_channels = [16, 32, 64, 96, 128, 196]
flow_pred_lvl = 2
pyr_lvls = 6
use_bn = True
bn_kwargs = {}
use_res = True
use_dense = True
# Strides of the predicted levels (2..6); targets are downscaled to each of them.
train_scales = [2**lvl for lvl in range(flow_pred_lvl, pyr_lvls + 1)]
crop_size = (256, 448)
deploy_size = (384, 512)

model = dict(
    type="PwcnetTask",
    backbone=dict(
        type="PwcNet",
        out_channels=out_channels,
        use_bn=use_bn,
        bn_kwargs=bn_kwargs,
        pyr_lvls=pyr_lvls,
        flow_pred_lvl=flow_pred_lvl,
        act_type=nn.ReLU(),
    ),
    head=dict(
        type="PwcnetHead",
        in_channels=out_channels,
        bn_kwargs=bn_kwargs,
        use_bn=use_bn,
        md=4,
        use_res=use_res,
        use_dense=use_dense,
        pyr_lvls=pyr_lvls,
        flow_pred_lvl=flow_pred_lvl,
        act_type=nn.ReLU(),
    ),
    loss=dict(type="LnNormLoss", norm_order=2, power=1, reduction="mean"),
    loss_weights=loss_weights,
)
deploy_inputs = dict(img=torch.randn((1, 6) + deploy_size))
# tools/infer.py and tools/infer_hbir.py: --model-inputs img1:PATH,img2:PATH[,gt:PATH.flo]
infer_cfg = dict(type="FlowInfer", pad_multiple=2**pyr_lvls)

# Data.
data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(
        type="FlyingChairs",
        data_path=os.path.join(data_rootdir, "train_lmdb"),
        transforms=[
            dict(type="RandomCrop", size=crop_size),
            dict(type="RandomFlip", px=0.5, py=0.5),
            dict(type="ToTensor", to_yuv=False),
            dict(
                type="SegRandomAffine",
                degrees=0,
                translate=(0.05, 0.05),
                scale=(1.0, 1.0),
                interpolation=InterpolationMode.BILINEAR,
                label_fill_value=0,
                translate_p=0.5,
                scale_p=0.0,
            ),
            dict(type="FlowRandomAffineScale", scale_p=0.5, scale_r=0.05),
        ],
        to_rgb=True,
    ),
    sampler=dict(type=torch.utils.data.DistributedSampler),
    batch_size=batch_size_per_gpu,
    pin_memory=True,
    shuffle=True,
    num_workers=data_num_workers,
    collate_fn=collate_2d,
)

val_data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(
        type="FlyingChairs",
        data_path=os.path.join(data_rootdir, "val_lmdb"),
        transforms=[dict(type="ToTensor", to_yuv=False)],
        to_rgb=True,
    ),
    batch_size=batch_size_per_gpu,
    shuffle=False,
    num_workers=data_num_workers,
    pin_memory=True,
    collate_fn=collate_2d,
)


def loss_collector(outputs: dict):
    """The weighted per-level losses of a PwcnetTask training forward."""
    return outputs["losses"]


image_transforms = [
    dict(type="BgrToYuv444", rgb_input=True),
    dict(type="TorchVisionAdapter", interface="Normalize", mean=128.0, std=128.0),
]

batch_processor = dict(
    type="MultiBatchProcessor",
    need_grad_update=True,
    batch_transforms=image_transforms
    + [dict(type="Scale", scales=tuple(1 / np.array(train_scales)), mode="bilinear")],
    loss_collector=loss_collector,
)

val_batch_processor = dict(
    type="MultiBatchProcessor",
    need_grad_update=False,
    batch_transforms=image_transforms,
    loss_collector=None,
)


def update_loss(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(model_outs["losses"])


def update_metric(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(batch["gt_flow"], model_outs)


# Callbacks.
stat_callback = dict(type="StatsMonitor", log_freq=100)
loss_metric_show_update = dict(
    type="MetricUpdater",
    metric_update_func=update_loss,
    step_log_freq=100,
    epoch_log_freq=1,
    log_prefix="loss_" + task_name,
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
tensorboard_callback = dict(type="TensorBoard", save_dir=ckpt_dir + "/tensorboard", update_freq=100)

float_trainer = dict(
    type="distributed_data_parallel_trainer",
    model=model,
    data_loader=data_loader,
    optimizer=dict(
        type=torch.optim.Adam,
        params={"weight": dict(weight_decay=4e-4)},
        lr=lr,
    ),
    batch_processor=batch_processor,
    stop_by="epoch",
    num_epochs=max_epoch,
    device=None,
    callbacks=[
        stat_callback,
        loss_metric_show_update,
        dict(
            type="CosLrUpdater",
            warmup_by="epoch",
            warmup_len=warmup_epochs,
            step_log_interval=1000,
        ),
        val_callback,
        ckpt_callback,
        tensorboard_callback,
    ],
    train_metrics=[dict(type="LossShow")],
    val_metrics=[dict(type="EndPointError")],
    sync_bn=True,
)

float_predictor = dict(
    type="Predictor",
    model=model,
    data_loader=[val_data_loader],
    batch_processor=val_batch_processor,
    device=None,
    metrics=[dict(type="EndPointError")],
    callbacks=[val_metric_updater],
    log_interval=50,
)

# ---------------------------------------------------------------------------------------------
# Quantization: calibration -> qat -> int_infer (-> export_hbir / validation_hbir align_bpu).
# Every stage rebuilds the float model and converts it with a ``model_convert_pipeline``; the
# checkpoint loaders are module-level dicts so derived configs can re-point them (the demo does).
# ---------------------------------------------------------------------------------------------
model["int16_flow_output"] = True  # finest flow: int16 Add (convs stay integer kernels)


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

calibration_steps = 10
calibration_batch_size = 16
calibration_data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(
        type="FlyingChairs",
        data_path=os.path.join(data_rootdir, "train_lmdb"),
        transforms=[dict(type="ToTensor", to_yuv=False)],
        to_rgb=True,
    ),
    batch_size=calibration_batch_size,
    shuffle=True,
    num_workers=data_num_workers,
    pin_memory=True,
    collate_fn=collate_2d,
)

calibration_trainer = dict(
    type="Calibrator",
    model=model,
    model_convert_pipeline=dict(
        type="ModelConvertPipeline",
        qat_mode="fuse_bn",
        converters=[float_ckpt_loader, dict(type="Float2Calibration")],
    ),
    data_loader=calibration_data_loader,
    batch_processor=val_batch_processor,
    num_steps=calibration_steps,
    device=None,
    log_interval=1,
    save_dir=ckpt_dir,
    name_prefix="calibration-",
)

qat_lr = 1e-4
qat_max_epoch = 86  # a tenth of the float schedule
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
    data_loader=data_loader,
    optimizer=dict(
        type=torch.optim.Adam,
        params={"weight": dict(weight_decay=4e-5)},
        lr=qat_lr,
    ),
    batch_processor=batch_processor,
    stop_by="epoch",
    num_epochs=qat_max_epoch,
    device=None,
    callbacks=[
        stat_callback,
        loss_metric_show_update,
        dict(
            type="StepDecayLrUpdater",
            lr_decay_id=[int(qat_max_epoch * 0.5), int(qat_max_epoch * 0.8)],
            lr_decay_factor=0.1,
            step_log_interval=1000,
        ),
        val_callback,
        ckpt_callback,
    ],
    train_metrics=[dict(type="LossShow")],
    val_metrics=[dict(type="EndPointError")],
    sync_bn=True,
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
        metrics=[dict(type="EndPointError")],
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
# On-board style validation: batch 1, deployment preprocessing (the val batch transforms).
align_bpu_data_loader = dict(val_data_loader, batch_size=1)
align_bpu_predictor = _stage_predictor(
    [dict(type="Float2QAT"), qat_ckpt_loader, dict(type="QAT2Quantize")], align_bpu_data_loader
)

# Accelerator described for compile_perf_hbir's analytical estimate (an estimate, not a
# measurement): peak int8 TOPS, DRAM bandwidth, and the fraction of peak a conv net reaches.
compile_cfg = dict(tops=96.0, bandwidth_gbps=68.0, efficiency=0.5, perf_runs=20, warmup_runs=3)
