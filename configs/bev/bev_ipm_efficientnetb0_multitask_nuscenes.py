"""BEV IPM multitask (3D detection + map segmentation) on nuScenes: the full training recipe
(HAT's reference configuration ``bev_ipm_efficientnetb0_multitask_nuscenes``).

Stages: ``float`` -> ``calibration`` -> ``qat`` -> ``int_infer``; select one with
``tools/train.py --stage X`` / ``tools/predict.py --stage X``. Data: pack nuScenes first with
``tools/datasets/nuscenes_packer.py --src-data-dir <dataroot> --target-data-dir tmp_data/nuscenes
--split-name train|val --pack-type lmdb`` (``<version>/train_lmdb``, ``<version>/val_lmdb`` and
the map ``metas`` under the target).

Model (``BevStructure``): EfficientNet-B0 (ReLU, no squeeze-excitation) + ``FastSCNNNeck`` on the
6 camera views (512x960 each) give a stride-8 feature (64 channels, 64x120) per view; the IPM
``WrappingTransformer`` samples every view at the ground-plane points of the 128x128 BEV grid
(``bev_size`` (51.2, 51.2, 0.8): +-51.2 m, 0.8 m cells), fuses the views by a maximum and upsamples
x2; the BEV encoder (EfficientNet-B0 on 64 channels + 3 BiFPN layers of 48 channels) feeds the
map-segmentation decoder (``bev_seg``: 4 classes others / divider / ped_crossing / boundary on the
``map_size`` (15, 30, 0.15) grid, 200x400, weight 10) and the CenterPoint detection decoder
(``bev_det``: 10 classes in 6 task groups on the BEV grid).

Training: 4 samples per GPU on 4 GPUs, AdamW 2e-4 (weight decay 0.01), one-cycle
``CyclicLrUpdater`` (up to 10x in the first 40 % of the steps, then down to 1e-4 x), 40 epochs;
image augmentation (random scale 0.6-0.8, random crop, flips, +-5.4 deg rotation, each view) and
BEV augmentation (rotation +-0.3925 rad, flips of both axes, per sample, in the model: the
sampling points move, see ``BevStructure``). The float stage starts from ImageNet EfficientNet
weights (``pretrained_ckpt``, missing and extra keys allowed). Checkpoints follow the best NDS.
Quantization: 50 calibration steps of 8 samples, then QAT at 2e-5 for 10 epochs.

Deployment: the same network; inputs ``img`` ``(6, 3, 512, 960)`` (normalised YUV444) and
``points`` ``(6, 128, 128, 2)`` (the sampling points, from the calibration; evaluation batches get
them from the ``BevIpmPoints`` batch transform), outputs the raw head tensors; box decoding with
NMS and the map argmax are the float post-processing (``post_process`` below, used by the
metrics). ``bev_ipm_efficientnetb0_multitask_nuscenes_demo.py`` derives a small version for
2 CPU cores on synthetic data.
"""

import copy
import os

import torch

from hat.data.collates import collate_nuscenes
from hat.data.datasets.nuscenes import NuscenesDataset
from hat.models.view_transformers import grid_quant_scale_for

from ..common import data_pipeline, float_stage, quant_stages

task_name = "bev_ipm_efficientnetb0_multitask_nuscenes"
training_step = os.environ.get("HAT_TRAINING_STEP", "float")

num_machines = 1
device_ids = [0, 1, 2, 3]
batch_size_per_gpu = 4
dataloader_workers = 4
num_views = 6
data_shape = (3, 512, 960)  # one camera view after resize and crop
train_resize_scales = (0.6, 0.8)  # of the 900x1600 camera images
val_resize = (540, 960)
feat_stride = 8  # the view transformer samples the neck's stride-8 output
bev_size = (51.2, 51.2, 0.8)  # (x_range_m, y_range_m, res_m): a 128 x 128 grid
map_size = (15, 30, 0.15)  # (lateral_half_m, forward_half_m, res_m): the 200 x 400 map target
task_map_size = map_size
seg_classes = 4
seg_class_names = ["others", "divider", "ped_crossing", "boundary"]
use_bce = False
train_epochs = 40
start_lr = 2e-4
weight_decay = 0.01
ckpt_dir = f"./tmp_models/{task_name}"
data_rootdir = "./tmp_data/nuscenes/v1.0-trainval"
meta_rootdir = "./tmp_data/nuscenes/metas"
pretrained_ckpt = "./tmp_pretrained_models/efficientnet_imagenet/float-checkpoint-best.pth.tar"
cudnn_benchmark = True
seed = None
log_rank_zero_only = True
bn_kwargs = {}


def bev_grid_hw(size):
    """``(rows, cols)`` of a ``(x_range_m, y_range_m, res_m)`` grid (rows = ego y)."""
    return round(2 * size[1] / size[2]), round(2 * size[0] / size[2])


def feature_hw(shape, stride):
    """The sampled image feature's ``(rows, cols)`` for a ``(C, H, W)`` view."""
    return -(-shape[1] // stride), -(-shape[2] // stride)


# int16 scale of the points in the quantized model (a power of two; every coordinate fits)
grid_quant_scale = grid_quant_scale_for(feature_hw(data_shape, feat_stride))

# CenterPoint's six task groups (nuScenes' 10 detection classes).
tasks = [
    dict(name="car", num_class=1, class_names=["car"]),
    dict(name="truck", num_class=2, class_names=["truck", "construction_vehicle"]),
    dict(name="bus", num_class=2, class_names=["bus", "trailer"]),
    dict(name="barrier", num_class=1, class_names=["barrier"]),
    dict(name="bicycle", num_class=2, class_names=["motorcycle", "bicycle"]),
    dict(name="pedestrian", num_class=2, class_names=["pedestrian", "traffic_cone"]),
]

# Model.
model = dict(
    type="BevStructure",
    bev_feat_index=-1,
    backbone=dict(
        type="efficientnet",
        bn_kwargs=bn_kwargs,
        model_type="b0",
        num_classes=1000,
        include_top=False,
        activation="relu",
        use_se_block=False,
    ),
    neck=dict(
        type="FastSCNNNeck",
        in_channels=[40, 320],
        feat_channels=[64, 64],
        indexes=[-3, -1],
        bn_kwargs=bn_kwargs,
    ),
    view_transformer=dict(
        type="WrappingTransformer",
        bev_upscale=2,
        bev_size=bev_size,
        num_views=num_views,
        drop_prob=0.1,
        grid_quant_scale=grid_quant_scale,
    ),
    bev_transforms=[
        dict(type="BevRotate", bev_size=bev_size, rot=(-0.3925, 0.3925)),
        dict(type="BevFlip", prob_x=0.5, prob_y=0.5, bev_size=bev_size),
    ],
    bev_encoder=dict(
        type="BevEncoder",
        backbone=dict(
            type="efficientnet",
            bn_kwargs=bn_kwargs,
            model_type="b0",
            num_classes=1000,
            include_top=False,
            activation="relu",
            use_se_block=False,
            in_channels=64,
        ),
        neck=dict(
            type="BiFPN",
            in_strides=[2, 4, 8, 16, 32],
            out_strides=[2, 4, 8, 16, 32],
            stride2channels=dict({2: 16, 4: 24, 8: 40, 16: 112, 32: 320}),
            out_channels=48,
            num_outs=5,
            stack=3,
            start_level=0,
            end_level=-1,
            fpn_name="bifpn_sum",
        ),
    ),
    bev_decoders=[
        dict(
            type="BevSegDecoder",
            name="bev_seg",
            use_bce=use_bce,
            task_weight=10.0,
            bev_size=bev_size,
            task_size=task_map_size,
            head=dict(
                type="DepthwiseSeparableFCNHead",
                input_index=0,
                in_channels=48,
                feat_channels=48,
                num_classes=seg_classes,
                dropout_ratio=0.1,
                num_convs=2,
                bn_kwargs=bn_kwargs,
            ),
            target=dict(type="FCNTarget"),
            loss=dict(
                type="CrossEntropyLossV2",
                loss_name="decode",
                reduction="mean",
                ignore_index=-1,
                use_sigmoid=use_bce,
                class_weight=2.0 if use_bce else [1.0, 5.0, 5.0, 5.0],
            ),
            decoder=dict(
                type="FCNDecoder",
                upsample_output_scale=1,
                use_bce=use_bce,
                bg_cls=-1,
            ),
        ),
        dict(
            type="BevDetDecoder",
            name="bev_det",
            task_weight=1.0,
            head=dict(
                type="CenterPoint3dHead",
                in_channels=48,
                tasks=tasks,
                share_conv_channels=48,
                share_conv_num=1,
                common_heads=dict(
                    reg=(2, 2),
                    height=(1, 2),
                    dim=(3, 2),
                    rot=(2, 2),
                    vel=(2, 2),
                ),
                head_conv_channels=48,
                num_heatmap_convs=2,
                final_kernel=3,
            ),
            target=dict(
                type="CenterPoint3dTarget",
                class_names=NuscenesDataset.CLASSES,
                tasks=tasks,
                gaussian_overlap=0.1,
                min_radius=2,
                out_size_factor=1,
                norm_bbox=True,
                max_num=500,
                bbox_weight=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2],
                bev_size=bev_size,
            ),
            loss_cls=dict(type="GaussianFocalLoss", loss_weight=1.0),
            loss_reg=dict(type="L1Loss", loss_weight=0.25),
            decoder=dict(
                type="CenterPoint3dDecoder",
                class_names=NuscenesDataset.CLASSES,
                tasks=tasks,
                bev_size=bev_size,
                out_size_factor=1,
                use_max_pool=True,
                max_pool_kernel=3,
                score_threshold=0.1,
                nms_type=["rotate", "rotate", "rotate", "circle", "rotate", "rotate"],
                min_radius=[4, 12, 10, 1, 0.85, 0.175],
                nms_threshold=[0.2, 0.2, 0.2, 0.2, 0.2, 0.5],
                decode_to_ego=True,
            ),
        ),
    ],
)


def make_deploy_inputs(shape=data_shape, size=bev_size, stride=feat_stride, views=num_views):
    """Example inputs of the deployed network: ``img (V, 3, H, W)`` and ``points
    (V, Hb, Wb, 2)`` spread over the feature map (for calibrating the model checker)."""
    hb, wb = bev_grid_hw(size)
    hf, wf = feature_hw(shape, stride)
    scale = torch.tensor([wf - 1.0, hf - 1.0])
    return dict(
        img=torch.randn((views,) + tuple(shape)), points=torch.rand(views, hb, wb, 2) * scale
    )


deploy_inputs = make_deploy_inputs()

# Data: the images are resized, cropped, YUV444-converted and normalised in the workers (HAT's
# pipeline); camera matrices, boxes and the map target come with every sample.
image_to_tensor = dict(
    type="BevImgTransformWrapper",
    transforms=[
        dict(type="PILToTensor"),
        dict(type="BgrToYuv444", rgb_input=True),
        dict(type="Normalize", mean=128.0, std=128.0),
    ],
)
train_resize = dict(type="BevImgResize", scales=train_resize_scales)
train_crop = dict(type="BevImgCrop", size=data_shape[1:], random=True)
train_transforms = [
    train_resize,
    train_crop,
    dict(type="BevImgFlip", prob=0.5),
    dict(type="BevImgRotate", rot=(-5.4, 5.4)),
    image_to_tensor,
]
val_resize_transform = dict(type="BevImgResize", size=val_resize)
val_crop = dict(type="BevImgCrop", size=data_shape[1:])
val_transforms = [val_resize_transform, val_crop, image_to_tensor]
# tools/infer.py / infer_hbir.py --model-inputs img:FOLDER (6 camera images + cameras.json; make
# one from a packed sample with `python -m hat.infer.bev`): the shared dicts, so configs derived
# from this one (smaller views, grids) are followed
infer_cfg = dict(type="BevInfer", bev_decoders=model["bev_decoders"], transforms=val_transforms)


def nuscenes_loader(split, transforms, batch_size, shuffle, distributed=False):
    """A ``NuscenesDataset`` loader of ``{data_rootdir}/{split}_lmdb`` batched with
    ``collate_nuscenes`` (map targets from ``meta_rootdir``)."""
    loader = data_pipeline.data_loader(
        "NuscenesDataset",
        data_path=os.path.join(data_rootdir, f"{split}_lmdb"),
        transforms=transforms,
        bev_size=bev_size,
        map_size=map_size,
        map_path=meta_rootdir,
        distributed=distributed,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=dataloader_workers,
    )
    loader["collate_fn"] = collate_nuscenes
    return loader


data_loader = nuscenes_loader("train", train_transforms, batch_size_per_gpu, True, True)
val_data_loader = nuscenes_loader("val", val_transforms, batch_size_per_gpu, False)


def loss_collector(outputs: dict):
    """Every decoder's weighted losses of a BevStructure training forward."""
    return outputs["losses"]


# Training batches compute their sampling points in the model (after the BEV augmentation);
# evaluation batches carry them as the deployed model's input.
ipm_points_transform = dict(type="BevIpmPoints", bev_size=bev_size, feat_stride=feat_stride)
batch_processor = data_pipeline.multi_batch_processor([], loss_collector)
val_batch_processor = data_pipeline.multi_batch_processor([ipm_points_transform])

_post_process = {}


def post_process(model_outs, batch):
    """The model's post-processing (``BevStructure.post_process``) of raw head outputs: one dict
    of ego-frame boxes per sample (``bev_det``) and the ``(B, 200, 400)`` map class ids
    (``bev_seg``). Built once per process from the model's decoders (decoding uses no weights)."""
    if "fn" not in _post_process:
        from hat.registry import build_from_registry

        _post_process["fn"] = build_from_registry(
            dict(type="BevPostProcess", bev_decoders=copy.deepcopy(model["bev_decoders"])),
            "post_process",
        )
    return _post_process["fn"](model_outs, batch)


def update_loss(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(model_outs["losses"])


def update_metric(metrics, batch, model_outs):
    """NuscenesMetric on the decoded boxes, MeanIOU on the map class ids."""
    preds = post_process(model_outs, batch)
    for metric in metrics:
        if type(metric).__name__ == "MeanIOU":
            metric.update(batch["gt_seg_mask"], preds["bev_seg"])
        else:
            metric.update(batch, preds["bev_det"])


def val_metrics():
    """nuScenes mAP / NDS of the detections and the map mIoU (mean over divider, ped_crossing
    and boundary; "others" is counted in the confusion matrix but left out of the mean)."""
    return [
        dict(type="NuscenesMetric", name=("mAP", "NDS"), log_per_class=False),
        dict(type="MeanIOU", seg_class=seg_class_names, name="mIoU", global_ignore_index=0),
    ]


# Stages (configs/common/): callbacks, float trainer and predictor, then calibration -> qat ->
# int_infer (-> export_hbir / validation_hbir align_bpu). Checkpoints follow the best NDS.
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
    monitor_metric_key="NDS",
    mode="max",
)
globals().update(_task["callbacks"])  # stat_callback, ..., tensorboard_callback

lr_updater = dict(
    type="CyclicLrUpdater",
    target_ratio=(10, 1e-4),
    cyclic_times=1,
    step_ratio_up=0.4,
    step_log_interval=500,
)
globals().update(  # float_trainer, float_predictor
    float_stage.float_stage(
        **_task,
        optimizer=dict(
            type=torch.optim.AdamW,
            params={"weight": dict(weight_decay=weight_decay)},
            lr=start_lr,
        ),
        num_epochs=train_epochs,
        lr_updater=lr_updater,
    )
)
# The heads read the finest BEV level only, so the last BiFPN layer's coarse nodes get no
# gradient: DDP has to look for unused parameters.
float_trainer["find_unused_parameters"] = True  # noqa: F821 (merged above)
# ImageNet EfficientNet weights (the checkpoint of a classification model whose backbone keys
# match); missing and extra keys allowed.
pretrained_loader = dict(
    type="LoadCheckpoint", checkpoint_path=pretrained_ckpt, allow_miss=True, ignore_extra=True
)
float_trainer["model_convert_pipeline"] = dict(  # noqa: F821 (merged above)
    type="ModelConvertPipeline", converters=[pretrained_loader]
)

# 50 calibration steps of 8 samples with the validation preprocessing (HAT's recipe).
calibration_batch_size = 8
calibration_steps = 50
calibration_data_loader = nuscenes_loader("train", val_transforms, calibration_batch_size, True)

qat_lr = 2e-5
qat_epochs = 10
qat_lr_updater = dict(type="CosLrUpdater", min_lr_ratio=0.0, step_log_interval=500)
globals().update(  # checkpoint loaders, calibration/qat trainers, stage predictors, compile_cfg
    quant_stages.quantization_stages(
        **_task,
        ckpt_dir=ckpt_dir,
        calibration_data_loader=calibration_data_loader,
        calibration_steps=calibration_steps,
        calibration_log_interval=5,
        qat_optimizer=dict(
            type=torch.optim.AdamW,
            params={"weight": dict(weight_decay=weight_decay)},
            lr=qat_lr,
        ),
        qat_num_epochs=qat_epochs,
        qat_lr_updater=qat_lr_updater,
        qat_averaging_constant=0,  # the calibrated activation scales stay fixed during QAT
    )
)
qat_trainer["find_unused_parameters"] = True  # noqa: F821 (merged above)
