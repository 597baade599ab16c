"""UNet-MobileNetV1 on synthetic Cityscapes, sized for 2 CPU cores (the README demo).

Derived from the full recipe by import: only what differs is written here. Same network (the
recipe's MobileNetV1 x0.25 + DwUnet + SegHead, focal loss, per-stride weights), same batch
transforms (random scale 0.5-2, YUV444, normalisation, multi-scale soft labels), same stages.

Data: ``tools/datasets/make_synthetic.py cityscapes --out tmp_data/cityscapes --num-train 1000
--num-val 200`` (256x512 street scenes), packed with ``tools/datasets/cityscapes_packer.py``.
Images stay at 256x512 (``data_shape``; a quarter of Cityscapes' side), batch 8 on one process.

Schedule: a short SGD run needs a higher learning rate than the recipe's 0.01 for 16 images;
it decays x0.1 twice near the end (the BatchNorm running statistics of this narrow network lag
behind fast-moving weights; after the decays they match the weights again). The network runs
on channels-last tensors (faster depthwise convs on the CPU).
"""

from unet_mobilenetv1_cityscapes import *  # noqa: F401,F403

# ruff: noqa: F405

task_name = "unet_mobilenetv1_cityscapes_demo"
ckpt_dir = f"./tmp_models/{task_name}"
num_machines = 1
device_ids = [0]
batch_size_per_gpu = 8
dataloader_workers = 1
seed = 0
data_shape = (3, 256, 512)
train_epochs = 16
lr = 0.05

model["channels_last"] = True
deploy_model["channels_last"] = True
deploy_inputs["img"] = torch.randn((1,) + data_shape)

# The recipe's batch transforms in a cheaper order with the same result: the label is resized
# and warped as ids (nearest; fill 255 = ignore) and one-hot encoded afterwards, instead of
# warping 19 one-hot channels (fill 0 = ignore).
label_transforms[2]["size"] = data_shape[1:]
train_affine = dict(batch_processor["batch_transforms"][3], label_fill_value=255)
batch_processor["batch_transforms"] = (
    [label_transforms[0], label_transforms[2], train_affine, label_transforms[1]]
    + image_transforms
    + batch_processor["batch_transforms"][-1:]
)

for loader in (data_loader, val_data_loader, calibration_data_loader, align_bpu_data_loader):
    loader["dataset"]["num_samples"] = None
    loader["num_workers"] = dataloader_workers
    loader["pin_memory"] = False
for loader in (data_loader, val_data_loader):
    loader["batch_size"] = batch_size_per_gpu

stat_callback["log_freq"] = 20
loss_show_update["step_log_freq"] = 20
val_callback["log_interval"] = 50
ckpt_callback["save_dir"] = ckpt_dir
tensorboard_callback["save_dir"] = ckpt_dir + "/tensorboard"
tensorboard_callback["update_freq"] = 20

float_trainer["optimizer"]["lr"] = lr
float_trainer["num_epochs"] = train_epochs
float_trainer["callbacks"][1]["lr_decay_id"] = [int(train_epochs * 0.67), int(train_epochs * 0.8)]
float_trainer["callbacks"][1]["step_log_interval"] = 50
float_trainer["callbacks"][1].update(warmup_len=30, warmup_by="step")

for _stage, _loader in quant_ckpt_loaders.items():
    _loader["checkpoint_path"] = stage_best_ckpt("qat" if _stage == "deploy" else _stage, ckpt_dir)
calibration_trainer["save_dir"] = ckpt_dir
