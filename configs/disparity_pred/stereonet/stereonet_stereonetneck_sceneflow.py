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

from hat.data.collates import collate_2d  # noqa: F401  (a name derived configs may use)

from ...common import data_pipeline, float_stage, quant_stages

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
crop_transform = dict(type="RandomCrop", size=crop_size)


def _to_tensor():
    return [dict(type="ToTensor", to_yuv=False, use_yuv_v2=False)]


data_loader = data_pipeline.data_loader(
    "SceneFlow",
    data_path=os.path.join(data_rootdir, "train_lmdb"),
    transforms=[crop_transform, *_to_tensor()],
    distributed=True,
    batch_size=train_batch_size_per_gpu,
    shuffle=True,
    num_workers=data_num_workers,
)
val_data_loader = data_pipeline.data_loader(
    "SceneFlow",
    data_path=os.path.join(data_rootdir, "test_lmdb"),
    transforms=_to_tensor(),
    batch_size=test_batch_size_per_gpu,
    shuffle=False,
    num_workers=data_num_workers,
)


def loss_collector(outputs: dict):
    """The weighted per-level losses of a StereoNet training forward."""
    return outputs["losses"]


image_transforms = data_pipeline.yuv444_normalize()
batch_processor = data_pipeline.multi_batch_processor(image_transforms, loss_collector)
val_batch_processor = data_pipeline.multi_batch_processor(image_transforms)


def update_loss(metrics, batch, model_outs):
    """Training metrics: ``[LossShow, EndPointError]``."""
    metrics[0].update(model_outs["losses"])
    for metric in metrics[1:]:
        metric.update(batch["gt_disp"], model_outs["disp"])


def update_metric(metrics, batch, model_outs):
    """Evaluation metrics (EPE, D1) on a disparity ``(B, 1, H, W)`` in pixels."""
    for metric in metrics:
        metric.update(batch["gt_disp"], model_outs)


def val_metrics(max_disp=maxdisp):
    """EPE and D1 on pixels with 0 < gt < max_disp (fresh dicts for every user)."""
    return [
        dict(type="EndPointError", use_mask=True, max_disp=max_disp),
        dict(type="D1Error", use_mask=True, max_disp=max_disp),
    ]


def train_metrics(max_disp=maxdisp):
    """The losses and the EPE of the training batches (fresh dicts for every user)."""
    return [dict(type="LossShow"), dict(type="EndPointError", use_mask=True, max_disp=max_disp)]


# Stages (configs/common/): callbacks, float trainer and predictor, then calibration -> qat ->
# int_infer (-> export_hbir / validation_hbir align_bpu). The disparity path (soft-argmin,
# refinement upsampling and residual adds) is int16 (see StereoNetHead); every convolution stays
# a uint8 x int8 integer kernel.
_task = float_stage.recipe_task(
    model=model,
    data_loader=data_loader,
    batch_processor=batch_processor,
    val_data_loader=val_data_loader,
    val_batch_processor=val_batch_processor,
    train_metrics=train_metrics,
    val_metrics=val_metrics,
    task_name=task_name,
    ckpt_dir=ckpt_dir,
    training_step=training_step,
    update_loss=update_loss,
    update_metric=update_metric,
    monitor_metric_key="EPE",
    mode="min",
    loss_log_prefix="train_",
    loss_step_log_freq=50,
    tensorboard=False,
)
globals().update(_task["callbacks"])  # stat_callback, ..., ckpt_callback

lr_updater = dict(
    type="CosLrUpdater", warmup_by="epoch", warmup_len=warmup_epochs, step_log_interval=1000
)
globals().update(  # float_trainer, float_predictor
    float_stage.float_stage(
        **_task,
        optimizer=dict(
            type=torch.optim.Adam, params={"weight": dict(weight_decay=4e-5)}, lr=base_lr
        ),
        num_epochs=num_epochs,
        lr_updater=lr_updater,
    )
)

# Calibration: training images with the validation transforms (no crop), percentile observer.
calibration_steps = 20
calibration_batch_size = train_batch_size_per_gpu
calibration_data_loader = data_pipeline.data_loader(
    "SceneFlow",
    data_path=os.path.join(data_rootdir, "train_lmdb"),
    transforms=_to_tensor(),
    batch_size=calibration_batch_size,
    shuffle=True,
    num_workers=data_num_workers,
)
calibration_qconfig_params = dict(
    activation_calibration_observer="percentile",
    activation_calibration_qkwargs=dict(percentile=99.985, bins=8192),
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
qat_lr_updater = dict(type="CosLrUpdater", warmup_len=0, step_log_interval=1000)

# On-board style validation: the original PNG/PFM test files at batch 1, deployment
# preprocessing (the val batch transforms).
align_bpu_data_loader = data_pipeline.data_loader(
    "SceneFlowFromImage",
    data_path=orig_data_rootdir,
    split="test",
    transforms=_to_tensor(),
    batch_size=1,
    shuffle=False,
    num_workers=data_num_workers,
)
globals().update(  # checkpoint loaders, calibration/qat trainers, stage predictors, compile_cfg
    quant_stages.quantization_stages(
        **dict(_task, data_loader=qat_data_loader),
        ckpt_dir=ckpt_dir,
        calibration_data_loader=calibration_data_loader,
        calibration_steps=calibration_steps,
        calibration_log_interval=max(1, calibration_steps // 10),
        calibration_qconfig_params=calibration_qconfig_params,
        qat_optimizer=dict(
            type=torch.optim.Adam, params={"weight": dict(weight_decay=4e-5)}, lr=qat_lr
        ),
        qat_num_epochs=qat_num_epochs,
        qat_lr_updater=qat_lr_updater,
        # keep observing activations with the library's default averaging constant (0.01)
        qat_averaging_constant=None,
        align_bpu_data_loader=align_bpu_data_loader,
    )
)
