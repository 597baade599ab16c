"""UNet-MobileNetV1 (x0.25) on Cityscapes: the full training recipe (HAT's reference config).

Stages: ``float`` -> ``calibration`` -> ``qat`` -> ``int_infer``; select one with
``tools/train.py --stage X`` / ``tools/predict.py --stage X``. Data: pack Cityscapes first with
``tools/datasets/cityscapes_packer.py`` (``train_lmdb`` / ``val_lmdb`` under ``data_rootdir``).

Model: ``Segmentor(MobileNetV1(alpha=0.25), DwUnet(base_channels=8), SegHead)`` predicting the
19 classes at strides 4..64, each supervised by a softmax focal loss weighted by stride
(finest most). Full-resolution 1024x2048 input, 4 images per GPU on 4 GPUs, SGD 0.01, 300
epochs with x0.1 at 200/240/280; the data augmentation runs on the device in the batch
processor (label remap, one-hot, random scale 0.5-2, YUV444, normalisation, multi-scale
labels). Checkpoints follow the best validation mIoU.

Deployment (``deploy_model``): the same network with only the stride-4 output and an argmax on
the (integer) logits: a ``(1, 1, 256, 512)`` class map for a 1024x2048 image. The int_infer,
align_bpu and export stages use it with the QAT weights (the coarser outputs are dropped).
``unet_mobilenetv1_cityscapes_demo.py`` derives a small version for 2 CPU cores on synthetic
data.
"""

import copy
import os

import numpy as np
import torch
from torch import nn

from hat.data.cityscapes_labels import CITYSCAPES_CLASSES, CITYSCAPES_LABLE_MAPPINGS
from hat.data.collates import collate_2d  # noqa: F401  (a name derived configs may use)
from hat.data.transforms import InterpolationMode

from ..common import data_pipeline, float_stage, quant_stages

task_name = "unet_mobilenetv1_cityscapes"
training_step = os.environ.get("HAT_TRAINING_STEP", "float")

num_classes = 19
num_machines = 1
device_ids = [0, 1, 2, 3]
batch_size_per_gpu = 4
dataloader_workers = 8
data_shape = (3, 1024, 2048)
train_epochs = 300
train_scales = (4, 8, 16, 32, 64)
ckpt_dir = f"./tmp_models/{task_name}"
data_rootdir = "./tmp_data/cityscapes/"
cudnn_benchmark = True
seed = None
log_rank_zero_only = True
bn_kwargs = dict(eps=2e-5, momentum=0.1)

# Model.
model = dict(
    type="Segmentor",
    backbone=dict(
        type="MobileNetV1",
        num_classes=-1,
        bn_kwargs=bn_kwargs,
        alpha=0.25,
        dw_with_relu=True,
        include_top=False,
        flat_output=False,
    ),
    neck=dict(
        type="DwUnet",
        base_channels=8,
        bn_kwargs=bn_kwargs,
        act_type=nn.ReLU,
        use_deconv=False,
        dw_with_relu=True,
        output_scales=train_scales,
    ),
    head=dict(
        type="SegHead",
        num_classes=num_classes,
        in_strides=train_scales,
        out_strides=train_scales,
        stride2channels={4: 32, 8: 64, 16: 128, 32: 256, 64: 512},
        feat_channels=(32, 64, 128, 256, 512),
        stacked_convs=0,
        argmax_output=False,
        dequant_output=True,
        int8_output=True,
        upscale=False,
        output_with_bn=True,
        bn_kwargs=bn_kwargs,
    ),
    losses=dict(
        type="ClassificationFocalLoss",
        loss_name="Focal",
        num_classes=num_classes,
        weight=tuple(np.array((256, 128, 64, 32, 16)) / 19),
        reduction="mean",
    ),
)


def make_deploy_model(train_model):
    """``train_model`` with only the stride-4 output, argmax class ids out, no loss."""
    deploy = copy.deepcopy(train_model)
    deploy.pop("losses", None)
    deploy["neck"]["output_scales"] = (4,)
    deploy["head"].update(
        in_strides=(4,),
        out_strides=(4,),
        feat_channels=(deploy["head"]["stride2channels"][4],),
        argmax_output=True,
        dequant_output=False,
    )
    return deploy


deploy_model = make_deploy_model(model)
deploy_inputs = dict(img=torch.randn((1,) + data_shape))
# tools/infer.py and tools/infer_hbir.py: --model-inputs img:PATH[,gt:PATH_gtFine_labelIds.png]
infer_cfg = dict(type="SegmentationInfer", pad_multiple=64)

# Data: uint8 tensors from the workers, everything else on the device (batch transforms).
data_loader = data_pipeline.data_loader(
    "CityscapesFromLMDB",
    data_path=os.path.join(data_rootdir, "train_lmdb"),
    transforms=[dict(type="PILToTensor")],
    num_samples=2975,
    distributed=True,
    batch_size=batch_size_per_gpu,
    shuffle=True,
    num_workers=dataloader_workers,
)
val_data_loader = data_pipeline.data_loader(
    "CityscapesFromLMDB",
    data_path=os.path.join(data_rootdir, "val_lmdb"),
    transforms=[dict(type="PILToTensor")],
    num_samples=500,
    batch_size=batch_size_per_gpu,
    shuffle=False,
    num_workers=dataloader_workers,
)


def loss_collector(outputs: dict):
    """The weighted per-stride focal losses of a Segmentor training forward."""
    return outputs["losses"]


label_remap = dict(type="LabelRemap", mapping=CITYSCAPES_LABLE_MAPPINGS)
label_one_hot = dict(type="SegOneHot", num_classes=num_classes)
label_resize = dict(type="SegResize", size=data_shape[1:])
label_transforms = [label_remap, label_one_hot, label_resize]
image_transforms = [
    dict(type="ImageBgrToYuv444", rgb_input=True),
    dict(type="ImageNormalize", mean=128.0, std=128.0),
]
# Random scale 0.5-2 of image and one-hot label (all-zero fill = ignored).
train_affine = dict(
    type="SegRandomAffine",
    degrees=0,
    scale=(0.5, 2.0),
    interpolation=InterpolationMode.BILINEAR,
    label_fill_value=0,
)
# Labels downscaled to every output stride.
scale_transform = dict(type="Scale", scales=tuple(1 / np.array(train_scales)), mode="bilinear")
batch_processor = data_pipeline.multi_batch_processor(
    label_transforms + [train_affine] + image_transforms + [scale_transform], loss_collector
)
val_batch_processor = data_pipeline.multi_batch_processor(label_transforms + image_transforms)


def update_loss(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(model_outs["losses"])


def update_metric(metrics, batch, model_outs):
    """MeanIOU on the stride-4 prediction (logits or class ids; resized to the labels with
    nearest neighbour) against the full-resolution one-hot labels (all-zero = ignored)."""
    for metric in metrics:
        metric.update(batch["gt_seg"], model_outs)


def miou_metric():
    return dict(type="MeanIOU", seg_class=CITYSCAPES_CLASSES, ignore_index=255)


def val_metrics():
    """Mean IoU over the 19 classes (fresh dicts for every user)."""
    return [miou_metric()]


# Stages (configs/common/): callbacks, float trainer and predictor, then calibration -> qat ->
# int_infer (-> export_hbir / validation_hbir align_bpu); int_infer and align_bpu run the deploy
# model with the QAT weights (the coarser outputs are dropped). Checkpoints follow the best mIoU.
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
    monitor_metric_key="mIoU",
    mode="max",
)
globals().update(_task["callbacks"])  # stat_callback, ..., tensorboard_callback

lr_updater = dict(
    type="StepDecayLrUpdater",
    lr_decay_id=[200, 240, 280],
    lr_decay_factor=0.1,
    step_log_interval=500,
)
globals().update(  # float_trainer, float_predictor
    float_stage.float_stage(
        **_task,
        optimizer=dict(
            type=torch.optim.SGD,
            params={"weight": dict(weight_decay=5e-3)},
            lr=0.01,
            momentum=0.9,
        ),
        num_epochs=train_epochs,
        lr_updater=lr_updater,
    )
)

# About 1000 calibration images (HAT's recipe), with the validation preprocessing.
calibration_batch_size = 4
calibration_steps = 250
calibration_data_loader = data_pipeline.data_loader(
    "CityscapesFromLMDB",
    data_path=os.path.join(data_rootdir, "train_lmdb"),
    transforms=[dict(type="PILToTensor")],
    num_samples=2975,
    batch_size=calibration_batch_size,
    shuffle=True,
    num_workers=dataloader_workers,
)

qat_lr = 2e-4
qat_epochs = 30
qat_lr_updater = dict(
    type="StepDecayLrUpdater", lr_decay_id=[20], lr_decay_factor=0.1, step_log_interval=500
)
globals().update(  # checkpoint loaders, calibration/qat trainers, stage predictors, compile_cfg
    quant_stages.quantization_stages(
        **_task,
        ckpt_dir=ckpt_dir,
        calibration_data_loader=calibration_data_loader,
        calibration_steps=calibration_steps,
        calibration_log_interval=10,
        qat_optimizer=dict(
            type=torch.optim.SGD,
            params={"weight": dict(weight_decay=5e-3)},
            lr=qat_lr,
            momentum=0.9,
        ),
        qat_num_epochs=qat_epochs,
        qat_lr_updater=qat_lr_updater,
        qat_averaging_constant=0,  # the calibrated activation scales stay fixed during QAT
        deploy_model=deploy_model,
    )
)
