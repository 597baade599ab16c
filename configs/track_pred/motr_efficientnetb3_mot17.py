"""MOTR tracking on MOT17: the full training recipe (HAT's ``motr_efficientnetb3_mot17``).

Stages: ``float`` -> ``calibration`` -> ``qat`` -> ``int_infer``; select one with
``tools/train.py --stage X`` / ``tools/predict.py --stage X``. Data: split the MOT17 train videos
in halves and pack them first (``tools/dataset_converters/gen_mot_data.py --src-data-path
tmp_data/MOT17``, then ``tools/datasets/mot17_packer.py --src-data-dir
tmp_data/MOT17/split_data --split-name train|test --pack-type lmdb``): ``train_lmdb`` (first
halves), ``test_lmdb`` (second halves) and ``test_gt`` (their ground truth, for the metric).

Model (``Motr``): EfficientNet-B3 (ReLU, no squeeze-excitation) gives the stride-32 feature
(384 channels) that the ``MotrHead`` reads as its single level: a deformable transformer
(d_model 256, 8 heads, 6 encoder and 6 decoder layers, feed-forward 1024, one sampling point per
head in encoder and decoder, an extra self-attention among the track queries) with 256 detect
queries and iterative box refinement; the ``QueryInteractionModule`` (QIM, hidden 1024) turns a
frame's kept queries into the next frame's track queries (training: tracks matched with IoU >
0.5, random drop 0.1, false-positive insertion 0.3). ``MotrCriterion``: tracks keep their
identity, new objects are Hungarian-matched to detect queries; focal (2) + L1 (5) + GIoU (2),
every decoder layer, averaged over the objects of the clip (the collective average). Evaluation
tracks frame by frame: a new track at score >= 0.7, kept while >= 0.6, dropped after 5 misses.

Training: one clip per GPU on 8 GPUs, clips of 2, 3, 4, 5 frames from epochs 0, 100, 180, 240
(frames up to 10 apart), 400 epochs; AdamW 2e-4 (backbone and sampling offsets 2e-5), weight
decay 1e-4, gradient norm clipped to 0.1, BatchNorm statistics frozen, learning rate x0.1 at
epoch 200; random horizontal flip, multi-scale resize (short side 608-992) or resize + random
crop + resize, YUV444 input. Evaluation frames are resized to 800x1422 (aspect kept).
"""

import os

import torch

from hat.data.collates import collate_mot_clips

from ..common import data_pipeline, float_stage, quant_stages

task_name = "motr_efficientnetb3_mot17"
training_step = os.environ.get("HAT_TRAINING_STEP", "float")

num_machines = 1
device_ids = [0, 1, 2, 3, 4, 5, 6, 7]
batch_size_per_gpu = 1
dataloader_workers = 4
cudnn_benchmark = False
seed = None
log_rank_zero_only = True
bn_kwargs = {}

d_model = 256
num_queries = 256
max_track_slots = 100  # track queries of the deployed model (static shapes)
feat_channels = 384  # EfficientNet-B3's stride-32 output
val_scale = (800, 1422)
train_scales = [(608, 1536), (640, 1536), (672, 1536), (704, 1536), (736, 1536), (768, 1536),
                (800, 1536), (832, 1536), (864, 1536), (896, 1536), (928, 1536), (960, 1536),
                (992, 1536)]  # fmt: skip
sampler_lengths = [2, 3, 4, 5]
sampler_steps = [100, 180, 240]
sample_interval = 10
train_epochs = 400
lr_decay_epochs = [200]
base_lr = 2e-4
slow_lr = 2e-5  # backbone and the deformable sampling offsets
weight_decay = 1e-4
ckpt_dir = f"./tmp_models/{task_name}"
data_rootdir = "./tmp_data/MOT17/split_data"

# Model.
model = dict(
    type="Motr",
    backbone=dict(
        type="efficientnet",
        bn_kwargs=bn_kwargs,
        model_type="b3",
        num_classes=1000,
        include_top=False,
        activation="relu",
        use_se_block=False,
    ),
    head=dict(
        type="MotrHead",
        transformer=dict(
            type="MotrDeformableTransformer",
            d_model=d_model,
            nhead=8,
            num_encoder_layers=6,
            num_decoder_layers=6,
            dim_feedforward=1024,
            dropout=0.0,
            return_intermediate_dec=True,
            num_feature_levels=1,
            dec_n_points=1,
            enc_n_points=1,
            extra_track_attn=True,
        ),
        num_classes=1,
        in_channels=feat_channels,
        num_queries=num_queries,
        aux_loss=True,
        with_box_refine=True,
    ),
    criterion=dict(
        type="MotrCriterion",
        num_classes=1,
        matcher=dict(type="HungarianMatcher", cost_class=2.0, cost_bbox=5.0, cost_giou=2.0),
        cls_loss_coef=2.0,
        bbox_loss_coef=5.0,
        giou_loss_coef=2.0,
        aux_loss=True,
    ),
    post_process=dict(type="MotrPostProcess", score_threshold=0.7, area_threshold=100.0),
    track_embed=dict(
        type="QueryInteractionModule",
        dim_in=d_model,
        hidden_dim=1024,
        dim_out=d_model,
        random_drop=0.1,
        fp_ratio=0.3,
        update_query_pos=True,
    ),
    runtime_tracker=dict(
        type="RuntimeTracker", score_thresh=0.7, filter_score_thresh=0.6, miss_tolerance=5
    ),
    max_track_slots=max_track_slots,
)


def make_deploy_inputs(
    height=val_scale[0],
    width=val_scale[1],
    slots=max_track_slots,
    queries=num_queries,
    channels=d_model,
):
    """Example inputs of the deployed base model: ``img (1, 3, H, W)``, then the queries (detect
    queries followed by the track slots): ``query_pos (1, Nq, 2d)``, ``mask_query (1, Nq)``,
    ``ref_pts (1, Nq, 2)``."""
    nq = queries + slots
    return dict(
        img=torch.randn(1, 3, height, width),
        query_pos=torch.randn(1, nq, 2 * channels),
        mask_query=torch.ones(1, nq),
        ref_pts=torch.randn(1, nq, 2),
    )


deploy_inputs = make_deploy_inputs()

# Data: clips of one sequence; every transform draws its parameters once per clip.
to_model_input = [
    dict(type="SeqToTensor"),
    dict(type="SeqBgrToYuv444", rgb_input=True),
    dict(type="SeqNormalize", mean=128.0, std=128.0),
]
train_transforms = [
    dict(type="SeqRandomFlip", px=0.5, py=0),
    dict(
        type="RandomSelectOne",
        transforms=[
            dict(type="SeqResize", img_scale=train_scales, multiscale_mode="value",
                 keep_ratio=True),
            [
                dict(type="SeqResize", img_scale=[(400, 1536), (500, 1536), (600, 1536)],
                     multiscale_mode="value", keep_ratio=True),
                dict(type="SeqRandomSizeCrop", min_size=384, max_size=600),
                dict(type="SeqResize", img_scale=train_scales, multiscale_mode="value",
                     keep_ratio=True),
            ],
        ],
        p=1.0,
    ),
    *to_model_input,
]  # fmt: skip
val_transforms = [dict(type="SeqResize", img_scale=val_scale, keep_ratio=True), *to_model_input]
# tools/infer.py and infer_hbir.py: --model-inputs frames:FOLDER (a sequence's img1) -> tracks
infer_cfg = dict(type="MotrInfer", transforms=val_transforms)


def mot17_loader(split, transforms, batch_size, shuffle, lengths=(1,), steps=None, dist=False):
    """A ``Mot17Dataset`` loader of ``{data_rootdir}/{split}_lmdb`` batched with
    ``collate_mot_clips``; ``lengths``/``steps``: the clip length schedule (training)."""
    loader = data_pipeline.data_loader(
        "Mot17Dataset",
        data_path=os.path.join(data_rootdir, f"{split}_lmdb"),
        transforms=transforms,
        sampler_lengths=list(lengths),
        sampler_steps=steps,
        sample_mode="random_interval",
        sample_interval=sample_interval,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=dataloader_workers,
    )
    if dist:
        loader["sampler"] = dict(type="DistSetEpochDatasetSampler")
    loader["collate_fn"] = collate_mot_clips
    return loader


data_loader = mot17_loader(
    "train", train_transforms, batch_size_per_gpu, True, sampler_lengths, sampler_steps, True
)
val_data_loader = mot17_loader("test", val_transforms, 1, False)


def loss_collector(outputs: dict):
    """The weighted clip losses of a Motr training forward."""
    return outputs["losses"]


batch_processor = data_pipeline.multi_batch_processor([], loss_collector)
val_batch_processor = data_pipeline.multi_batch_processor([])


def update_loss(metrics, batch, model_outs):
    for metric in metrics:
        metric.update(model_outs["losses"])


def update_metric(metrics, batch, model_outs):
    """MotMetric on the tracked boxes of each frame (original image pixels)."""
    for metric in metrics:
        metric.update(batch, model_outs)


def val_metrics():
    """CLEAR MOT, identity and HOTA scores of the tracks against ``test_gt``."""
    return [
        dict(
            type="MotMetric",
            gt_dir=os.path.join(data_rootdir, "test_gt"),
            save_prefix=os.path.join(ckpt_dir, "mot_results"),
        )
    ]


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
    monitor_metric_key="MOTA",
    mode="max",
)
globals().update(_task["callbacks"])  # stat_callback, ..., tensorboard_callback

lr_updater = dict(
    type="StepDecayLrUpdater", lr_decay_id=lr_decay_epochs, lr_decay_factor=0.1,
    step_log_interval=500,
)  # fmt: skip
optimizer = dict(
    type=torch.optim.AdamW,
    params={
        "backbone": dict(lr=slow_lr),
        "sampling_offsets": dict(lr=slow_lr),
    },
    lr=base_lr,
    weight_decay=weight_decay,
)
globals().update(  # float_trainer, float_predictor
    float_stage.float_stage(
        **_task, optimizer=optimizer, num_epochs=train_epochs, lr_updater=lr_updater
    )
)
grad_clip_callback = dict(type="GradClip", max_norm=0.1)
freeze_bn_callback = dict(type="FreezeBNStatistics")
float_trainer["callbacks"][2:2] = [grad_clip_callback, freeze_bn_callback]  # noqa: F821
# Tracks that QIM does not keep (and the extra track attention without tracks) get no gradient.
float_trainer["find_unused_parameters"] = True  # noqa: F821 (merged above)

calibration_steps = 100
calibration_data_loader = mot17_loader("train", val_transforms, 1, True)
qat_lr = 1e-4
qat_epochs = 10
qat_lr_updater = dict(
    type="StepDecayLrUpdater", lr_decay_id=[5], lr_decay_factor=0.1, step_log_interval=500
)
globals().update(  # checkpoint loaders, calibration/qat trainers, stage predictors, compile_cfg
    quant_stages.quantization_stages(
        **_task,
        ckpt_dir=ckpt_dir,
        calibration_data_loader=calibration_data_loader,
        calibration_steps=calibration_steps,
        calibration_log_interval=10,
        qat_optimizer=dict(
            type=torch.optim.AdamW,
            params={"backbone": dict(lr=qat_lr * 0.1)},
            lr=qat_lr,
            weight_decay=weight_decay,
        ),
        qat_num_epochs=qat_epochs,
        qat_lr_updater=qat_lr_updater,
        qat_averaging_constant=0,
    )
)
qat_trainer["find_unused_parameters"] = True  # noqa: F821 (merged above)
# As the float stage: frozen BN statistics (batch 1 per GPU) and the gradient clip.
qat_trainer["callbacks"][2:2] = [grad_clip_callback, freeze_bn_callback]  # noqa: F821
# The evaluation forward tracks (a varying set of boxes per frame, state carried across
# frames): no fixed-shape output to compare observers by, so the recipe's observer is kept.
calibration_trainer["observer_candidates"] = None  # noqa: F821 (merged above)


def relocate_mot_results(directory):
    """Point every MotMetric's result files (``<seq>.txt``) at ``{directory}/mot_results``
    (derived configs that move ``ckpt_dir``)."""
    for entry in list(globals().values()):
        if not isinstance(entry, dict):
            continue
        for key in ("metrics", "val_metrics"):
            metrics = entry.get(key)
            for metric in metrics if isinstance(metrics, list) else []:
                if isinstance(metric, dict) and metric.get("type") == "MotMetric":
                    metric["save_prefix"] = os.path.join(directory, "mot_results")


def qim_graph_config(namespace):
    """Turn a MOTR config's namespace (``globals()``) into its query-interaction-module config
    (HAT's ``..._qim`` config): ``model`` becomes :class:`MotrQim` on the config's
    ``track_embed``, ``deploy_inputs`` the QIM graph's (``query_pos``, ``output_embedding``,
    ``mask_query`` on the track slots), and the fixed-point stages load the tracker's QAT
    checkpoint into it (its ``track_embed.*`` keys; the rest ignored). calops, model_checker,
    export_hbir and compile_perf_hbir then work on the QIM graph."""
    base_model = namespace["model"]
    slots, width = base_model["max_track_slots"], base_model["track_embed"]["dim_in"]
    qim_model = dict(type="MotrQim", track_embed=base_model["track_embed"])
    g = torch.Generator().manual_seed(0)
    namespace.update(
        task_name=namespace["task_name"] + "_qim",
        base_model=base_model,
        model=qim_model,
        deploy_inputs=dict(
            query_pos=torch.randn(1, slots, 2 * width, generator=g),
            output_embedding=torch.randn(1, slots, width, generator=g),
            mask_query=torch.ones(1, slots),
        ),
    )
    for key in ("int_infer_predictor", "align_bpu_predictor"):
        stage = dict(namespace[key])
        pipeline = dict(stage["model_convert_pipeline"])
        pipeline["converters"] = [
            dict(c, ignore_extra=True) if c.get("type") == "LoadCheckpoint" else c
            for c in pipeline["converters"]
        ]
        namespace[key] = dict(stage, model=qim_model, model_convert_pipeline=pipeline)
