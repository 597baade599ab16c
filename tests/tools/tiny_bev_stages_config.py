"""The BEV demo config shrunk for the stage-chain tests: 6 views of 64x96 synthetic nuScenes
cameras, a 16 x 16 BEV grid (+-12.8 m, 1.6 m cells) and a 20 x 40 map target (+-6 m x +-12 m,
0.6 m cells); one epoch per training stage, 2 calibration steps.

Paths come from the environment (``HAT_TEST_DATA``: the packer's target folder,
``HAT_TEST_CKPT``) so each test run uses its own temporary folders. The synthetic cameras are
generated at 160x90.
"""

import os

from ...configs.bev.bev_ipm_efficientnetb0_multitask_nuscenes_demo import *  # noqa: F401,F403

task_name = "tiny_bev_stages"
data_root = os.environ.get("HAT_TEST_DATA", "/tmp/hat_tiny_bev/data")
data_rootdir = os.path.join(data_root, "v1.0-trainval")
meta_rootdir = os.path.join(data_root, "metas")
ckpt_dir = os.environ.get("HAT_TEST_CKPT", "/tmp/hat_tiny_bev/ckpt")
seed = 0
data_shape = (3, 64, 96)
bev_size = (12.8, 12.8, 1.6)
map_size = (6, 12, 0.6)
pool_bins = (1, 2)

shrink_model(model, bev_size, map_size, feature_hw(data_shape, feat_stride), pool_bins)
deploy_inputs.update(make_deploy_inputs(data_shape, bev_size, feat_stride, num_views))
train_resize["scales"] = (0.75, 0.8)
train_crop["size"] = data_shape[1:]
val_resize_transform["size"] = (68, 120)
val_crop["size"] = data_shape[1:]
ipm_points_transform["bev_size"] = bev_size

for loader, split in (
    (data_loader, "train_lmdb"),
    (val_data_loader, "val_lmdb"),
    (calibration_data_loader, "train_lmdb"),
    (align_bpu_data_loader, "val_lmdb"),
):
    loader["dataset"].update(
        data_path=os.path.join(data_rootdir, split),
        map_path=meta_rootdir,
        bev_size=bev_size,
        map_size=map_size,
    )
    loader["num_workers"] = 0
    if loader is not align_bpu_data_loader:
        loader["batch_size"] = 2

relocate_outputs(ckpt_dir)  # checkpoints, TensorBoard, calibration, checkpoint loaders
calibration_trainer["num_steps"] = 2
float_trainer["num_epochs"] = 1
float_trainer["callbacks"] = [
    c for c in float_trainer["callbacks"] if c is not tensorboard_callback
]
qat_trainer["num_epochs"] = 1
compile_cfg["perf_runs"] = 3
compile_cfg["warmup_runs"] = 1
