"""The demo config shrunk for the stage-chain tests: a narrow UNet-MobileNetV1 on 64x128
synthetic Cityscapes images.

Paths come from the environment (``HAT_TEST_DATA``, ``HAT_TEST_CKPT``) so each test run uses its
own temporary folders.
"""

import os

from ...configs.segmentation.unet_mobilenetv1_cityscapes_demo import *  # noqa: F401,F403

# ruff: noqa: F405

task_name = "tiny_unet_stages"
data_rootdir = os.environ.get("HAT_TEST_DATA", "/tmp/hat_tiny_unet/data")
ckpt_dir = os.environ.get("HAT_TEST_CKPT", "/tmp/hat_tiny_unet/ckpt")
seed = 0
data_shape = (3, 64, 128)

# Same structure, half the widths: MobileNetV1 x0.125 (4 * stride channels), DwUnet base 4.
for _m in (model, deploy_model):
    _m["backbone"]["alpha"] = 0.125
    _m["neck"]["base_channels"] = 4
    _m["head"]["stride2channels"] = {s: 4 * s for s in (4, 8, 16, 32, 64)}
    _m["head"]["feat_channels"] = [4 * s for s in _m["head"]["out_strides"]]
deploy_inputs["img"] = torch.randn((1,) + data_shape)
label_transforms[2]["size"] = data_shape[1:]

for loader, split in (
    (data_loader, "train_lmdb"),
    (val_data_loader, "val_lmdb"),
    (calibration_data_loader, "train_lmdb"),
    (align_bpu_data_loader, "val_lmdb"),
):
    loader["dataset"]["data_path"] = os.path.join(data_rootdir, split)
    loader["num_workers"] = 0
    if loader is not align_bpu_data_loader:
        loader["batch_size"] = 4

relocate_outputs(ckpt_dir)  # checkpoints, TensorBoard, calibration, checkpoint loaders
calibration_trainer["save_dir"] = ckpt_dir
calibration_trainer["num_steps"] = 2

float_trainer["num_epochs"] = 1
float_trainer["callbacks"] = [
    c for c in float_trainer["callbacks"] if c is not tensorboard_callback
]
qat_trainer["num_epochs"] = 1
compile_cfg["perf_runs"] = 3
compile_cfg["warmup_runs"] = 1
