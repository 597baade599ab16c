"""MOTR on synthetic MOT17, sized for 2 CPU cores (derived from the recipe by import: only what
differs is written here).

Same network type (EfficientNet-B3 + single-level deformable transformer + QIM), losses,
tracker and stages. What it shrinks, and why:

- frames: resized to 288x512 for evaluation (the recipe: 800x1422), short side 256-320 in
  training: the backbone is most of the cost, and the synthetic frames are 480x270;
- transformer: 3 encoder and 3 decoder layers, 100 detect queries and 32 track slots (the
  synthetic sequences hold at most ~20 pedestrians at a time);
- schedule: clips of 2 then 3 frames, 6 epochs (the demo's 3 synthetic videos give 303 clips
  an epoch at 0.8-1.0 s a step on 2 cores: ~25 min of float training), 1 worker, no
  ImageNet/COCO weights (none offline); one QAT epoch (fake-quantized steps cost ~1.5x).
"""

from motr_efficientnetb3_mot17 import *  # noqa: F401,F403

task_name = "motr_efficientnetb3_mot17_demo"
ckpt_dir = f"./tmp_models/{task_name}"
num_machines = 1
device_ids = [0]
dataloader_workers = 1
seed = 0
num_queries = 100
max_track_slots = 32
val_scale = (288, 512)
train_scales = [(256, 512), (288, 512), (320, 576)]
sampler_lengths = [2, 3]
sampler_steps = [2]
train_epochs = 6
lr_decay_epochs = [5]
calibration_steps = 25
qat_epochs = 1

model["head"]["num_queries"] = num_queries
model["head"]["transformer"].update(num_encoder_layers=3, num_decoder_layers=3)
model["max_track_slots"] = max_track_slots
deploy_inputs.update(make_deploy_inputs(*val_scale, max_track_slots, num_queries))

train_transforms[1] = dict(type="SeqResize", img_scale=train_scales, multiscale_mode="value",
                           keep_ratio=True)  # fmt: skip
val_transforms[0]["img_scale"] = val_scale
data_loader["dataset"].update(sampler_lengths=sampler_lengths, sampler_steps=sampler_steps)
for _loader in (data_loader, val_data_loader, calibration_data_loader, align_bpu_data_loader):
    _loader.update(num_workers=dataloader_workers, pin_memory=False)

stat_callback["log_freq"] = 20
loss_show_callback["step_log_freq"] = 20
val_callback["log_interval"] = 100
relocate_outputs(ckpt_dir)  # checkpoints, TensorBoard, calibration, checkpoint loaders
relocate_mot_results(ckpt_dir)
ckpt_callback["keep_epoch_files"] = False
tensorboard_callback["update_freq"] = 20
lr_updater["lr_decay_id"] = lr_decay_epochs
lr_updater["step_log_interval"] = 50
float_trainer["num_epochs"] = train_epochs
calibration_trainer["num_steps"] = calibration_steps
qat_trainer["num_epochs"] = qat_epochs
