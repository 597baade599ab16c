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

from hat.data.collates import collate_2d  # noqa: F401  (a name derived configs may use)
from hat.data.transforms import InterpolationMode

from ...common import data_pipeline, float_stage, quant_stages

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
    int16_flow_output=True,  # quantized: finest flow as an int16 Add (convs stay integer)
)
deploy_inputs = dict(img=torch.randn((1, 6) + deploy_size))
# tools/infer.py and tools/infer_hbir.py: --model-inputs img1:PATH,img2:PATH[,gt:PATH.flo]
infer_cfg = dict(type="FlowInfer", pad_multiple=2**pyr_lvls)

# Data.
crop_transform = dict(type="RandomCrop", size=crop_size)
data_loader = data_pipeline.data_loader(
    "FlyingChairs",
    data_path=os.path.join(data_rootdir, "train_lmdb"),
    transforms=[
        crop_transform,
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
    distributed=True,
    batch_size=batch_size_per_gpu,
    shuffle=True,
    num_workers=data_num_workers,
)
val_data_loader = data_pipeline.data_loader(
    "FlyingChairs",
    data_path=os.path.join(data_rootdir, "val_lmdb"),
    transforms=[dict(type="ToTensor", to_yuv=False)],
    to_rgb=True,
    batch_size=batch_size_per_gpu,
    shuffle=False,
    num_workers=data_num_workers,
)


def loss_collector(outputs: dict):
    """The weighted per-level losses of a PwcnetTask training forward."""
    return outputs["losses"]


image_transforms = data_pipeline.yuv444_normalize()
# Targets downscaled to every predicted level.
scale_transform = dict(type="Scale", scales=tuple(1 / np.array(train_scales)), mode="bilinear")
batch_processor = data_pipeline.multi_batch_processor(
    image_transforms + [scale_transform], loss_collector
)
val_batch_processor = data_pipeline.multi_batch_processor(image_transforms)


def update_loss(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(model_outs["losses"])


def update_metric(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(batch["gt_flow"], model_outs)


def val_metrics():
    """End-point error (fresh dicts for every user)."""
    return [dict(type="EndPointError")]


# Stages (configs/common/): callbacks, float trainer and predictor, then calibration -> qat ->
# int_infer (-> export_hbir / validation_hbir align_bpu).
_task = float_stage.recipe_task(
    model=model,
    data_loader=data_loader,
    batch_processor=batch_processor,
    val_data_loader=val_data_loader,
    val_batch_processor=val_batch_processor,
    val_metrics=val_metrics,
    task_name=task_name,
    ckpt_dir=ckpt_dir,
    training_step=training_step,
    update_loss=update_loss,
    update_metric=update_metric,
    monitor_metric_key="EPE",
    mode="min",
)
globals().update(_task["callbacks"])  # stat_callback, ..., tensorboard_callback

lr_updater = dict(
    type="CosLrUpdater", warmup_by="epoch", warmup_len=warmup_epochs, step_log_interval=1000
)
globals().update(  # float_trainer, float_predictor
    float_stage.float_stage(
        **_task,
        optimizer=dict(type=torch.optim.Adam, params={"weight": dict(weight_decay=4e-4)}, lr=lr),
        num_epochs=max_epoch,
        lr_updater=lr_updater,
    )
)

calibration_steps = 10
calibration_batch_size = 16
calibration_data_loader = data_pipeline.data_loader(
    "FlyingChairs",
    data_path=os.path.join(data_rootdir, "train_lmdb"),
    transforms=[dict(type="ToTensor", to_yuv=False)],
    to_rgb=True,
    batch_size=calibration_batch_size,
    shuffle=True,
    num_workers=data_num_workers,
)
qat_lr = 1e-4
qat_max_epoch = 86  # a tenth of the float schedule
qat_lr_updater = dict(
    type="StepDecayLrUpdater",
    lr_decay_id=[int(qat_max_epoch * 0.5), int(qat_max_epoch * 0.8)],
    lr_decay_factor=0.1,
    step_log_interval=1000,
)
globals().update(  # checkpoint loaders, calibration/qat trainers, stage predictors, compile_cfg
    quant_stages.quantization_stages(
        **_task,
        ckpt_dir=ckpt_dir,
        calibration_data_loader=calibration_data_loader,
        calibration_steps=calibration_steps,
        calibration_log_interval=1,
        qat_optimizer=dict(
            type=torch.optim.Adam, params={"weight": dict(weight_decay=4e-5)}, lr=qat_lr
        ),
        qat_num_epochs=qat_max_epoch,
        qat_lr_updater=qat_lr_updater,
        # keep observing activations with the library's default averaging constant (0.01)
        qat_averaging_constant=None,
    )
)
