"""The demo config shrunk for the stage-chain tests: a tiny StereoNet on 64x128 synthetic pairs.

Paths come from the environment (``HAT_TEST_DATA``, ``HAT_TEST_CKPT``) so each test run uses its
own temporary folders.
"""

import os

from ...configs.disparity_pred.stereonet.stereonet_stereonetneck_sceneflow_demo import *  # noqa: F401,F403

# ruff: noqa: F405

task_name = "tiny_stereonet_stages"
data_rootdir = os.environ.get("HAT_TEST_DATA", "/tmp/hat_tiny_stereo/data")
ckpt_dir = os.environ.get("HAT_TEST_CKPT", "/tmp/hat_tiny_stereo/ckpt")
seed = 0
maxdisp = 32
deploy_size = (64, 128)

out_channels[:] = [4, 4, 6, 8, 8, 4]
model["backbone"]["num_blocks"] = (1, 1, 1, 1)
model["head"].update(
    maxdisp=maxdisp,
    num_groups=4,
    concat_channels=out_channels[5],
    agg_channels=(8,),
    refine_channels=4,
    refine_dilations=(1,),
)
model["post_process"]["maxdisp"] = maxdisp
deploy_inputs["img"] = torch.randn((1, 6) + deploy_size)
infer_cfg["max_disp"] = maxdisp

data_loader["dataset"]["transforms"] = [dict(type="ToTensor", to_yuv=False)]
for loader, split in (
    (data_loader, "train_lmdb"),
    (val_data_loader, "test_lmdb"),
    (calibration_data_loader, "train_lmdb"),
    (qat_data_loader, "train_lmdb"),
):
    loader["dataset"]["data_path"] = os.path.join(data_rootdir, split)
    loader["num_workers"] = 0
    loader["batch_size"] = 4
align_bpu_data_loader["dataset"]["data_path"] = data_rootdir
align_bpu_data_loader["num_workers"] = 0

relocate_outputs(ckpt_dir)  # checkpoints, TensorBoard, calibration, checkpoint loaders
calibration_trainer["num_steps"] = 3

float_trainer["num_epochs"] = 1
qat_trainer["num_epochs"] = 1
compile_cfg["perf_runs"] = 5
compile_cfg["warmup_runs"] = 1
