"""StereoNet on synthetic SceneFlow, sized for 2 CPU cores (the README demo).

Derived from the full recipe by import: only what differs is written here. The synthetic pairs
are the generator's defaults (576x320, disparities up to about 77 px)::

    python3 tools/datasets/make_synthetic.py sceneflow --out tmp_data/SceneFlow \\
        --num-train 600 --num-test 100 --seed 0
    python3 tools/datasets/sceneflow_packer.py --src-data-dir tmp_data/SceneFlow \\
        --split-name train --pack-type lmdb --num-workers 1   (and --split-name test)

Same structure as the recipe (group-wise + concat volume, 2D aggregation, soft-argmin, edge-aware
refinement, int16 disparity path), narrower and shallower, with the volume at stride 8 instead
of 16 (``stage_strides`` 2, 2, 1, 1 and three refinement levels; ``maxdisp = 96`` gives the
recipe's 12 candidate disparities, 8 px apart). At these image sizes a stride-16 volume is 8x16
cells for a training crop: in short trials on 352x192 synthetic pairs (train-mean baseline EPE
6.6) the stride-16 net reached val EPE 4.4 after 4 epochs where the stride-8 net reached 2.9
after 3. Trained on 128x256 crops for a short cosine schedule.

Measured (2 shared cores, load 6-7 from other jobs): float 10 epochs in 16.4 min, best test EPE
2.34 px (D1 15.4 %) against 9.78 px for predicting the training set's mean disparity (24 %);
calibration 2.340, QAT (2 epochs) 2.346, int_infer 2.346; ORT (align_bpu) 2.346.
"""

from stereonet_stereonetneck_sceneflow import *  # noqa: F401,F403

task_name = "stereonet_stereonetneck_sceneflow_demo"
ckpt_dir = f"./tmp_models/{task_name}"
data_rootdir = "./tmp_data/SceneFlow/"
orig_data_rootdir = data_rootdir
device_ids = [0]
train_batch_size_per_gpu = 8
test_batch_size_per_gpu = 8
base_lr = 2e-3
num_epochs = 10
warmup_epochs = 1
data_num_workers = 1
seed = 0
maxdisp = 96
crop_size = (128, 256)
deploy_size = (320, 576)

refine_levels = 3
out_channels[:] = [16, 16, 24, 32, 32, 8]
model["backbone"]["num_blocks"] = (1, 2, 1, 1)
model["backbone"]["stage_strides"] = (2, 2, 1, 1)
model["loss_weights"] = loss_weights[:1] + loss_weights[2:]  # the stride-16 level is gone
model["head"].update(
    maxdisp=maxdisp,
    refine_levels=refine_levels,
    num_groups=8,
    concat_channels=out_channels[5],
    agg_channels=(32, 32, 32),
    refine_channels=16,
    refine_dilations=(1, 2),
)
model["post_process"]["maxdisp"] = maxdisp
deploy_inputs["img"] = torch.randn((1, 6) + deploy_size)
infer_cfg.update(max_disp=maxdisp, pad_multiple=2**refine_levels)

crop_transform["size"] = crop_size
data_loader["dataset"]["data_path"] = os.path.join(data_rootdir, "train_lmdb")
val_data_loader["dataset"]["data_path"] = os.path.join(data_rootdir, "test_lmdb")
calibration_data_loader["dataset"]["data_path"] = os.path.join(data_rootdir, "train_lmdb")
align_bpu_data_loader["dataset"]["data_path"] = orig_data_rootdir
for _loader in (data_loader, val_data_loader, calibration_data_loader, align_bpu_data_loader):
    _loader.update(num_workers=data_num_workers, pin_memory=False)
data_loader["batch_size"] = train_batch_size_per_gpu
val_data_loader["batch_size"] = test_batch_size_per_gpu

stat_callback["log_freq"] = 20
loss_show_callback["step_log_freq"] = 20
val_callback["log_interval"] = 20
val_callback["val_interval"] = 2  # 100 full test pairs take ~40 s on 2 loaded cores
relocate_outputs(ckpt_dir)  # checkpoints, calibration and the stages' checkpoint loaders

float_trainer["optimizer"]["lr"] = base_lr
float_trainer["num_epochs"] = num_epochs
lr_updater.update(warmup_len=warmup_epochs, step_log_interval=50)

# Quantization stages: same recipe, demo sizes and paths.
calibration_batch_size = 8
calibration_data_loader["batch_size"] = calibration_batch_size
qat_lr = 5e-5
qat_num_epochs = 2
# QAT on the float stage's 128x256 crops (the recipe's whole images at batch 4 take ~10x longer
# per epoch on 2 cores)
qat_data_loader.update(
    dataset=data_loader["dataset"],
    batch_size=train_batch_size_per_gpu,
    num_workers=data_num_workers,
    pin_memory=False,
)
qat_trainer["num_epochs"] = qat_num_epochs
qat_trainer["optimizer"]["lr"] = qat_lr
qat_lr_updater["step_log_interval"] = 50
for _p in (calibration_predictor, qat_predictor, int_infer_predictor, align_bpu_predictor):
    _p["log_interval"] = 20

# Metrics on pixels with 0 < gt < the demo's maxdisp.
for _trainer in (float_trainer, qat_trainer):
    _trainer.update(train_metrics=train_metrics(maxdisp), val_metrics=val_metrics(maxdisp))
for _p in (
    float_predictor,
    calibration_predictor,
    qat_predictor,
    int_infer_predictor,
    align_bpu_predictor,
):
    _p["metrics"] = val_metrics(maxdisp)
