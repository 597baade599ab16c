"""The demo config shrunk for the stage-chain tests: a tiny PwcNet on 64x96 synthetic pairs.

Paths come from the environment (``HAT_TEST_DATA``, ``HAT_TEST_CKPT``) so each test run uses its
own temporary folders.
"""

import os

from ...configs.opticalflow_pred.pwcnet.pwcnet_pwcnetneck_flyingchairs_demo import *  # noqa: F401,F403

# ruff: noqa: F405

task_name = "tiny_pwcnet_stages"
data_rootdir = os.environ.get("HAT_TEST_DATA", "/tmp/hat_tiny_stages/data")
ckpt_dir = os.environ.get("HAT_TEST_CKPT", "/tmp/hat_tiny_stages/ckpt")
seed = 0
data_num_workers = 0
crop_size = (64, 96)
deploy_size = (64, 96)

out_channels[:] = [4, 6, 8, 8]
model["head"]["md"] = 2
model["head"]["decoder_channels"] = [8, 8, 8, 4, 4]
model["head"]["context_channels"] = [8, 8, 8, 8, 4, 4]
deploy_inputs["img"] = torch.randn((1, 6) + deploy_size)

data_loader["dataset"]["transforms"] = [dict(type="ToTensor", to_yuv=False)]
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
calibration_trainer["num_steps"] = 3

float_trainer["num_epochs"] = 1
float_trainer["callbacks"] = [
    c for c in float_trainer["callbacks"] if c is not tensorboard_callback
]
qat_trainer["num_epochs"] = 1
compile_cfg["perf_runs"] = 5
compile_cfg["warmup_runs"] = 1
