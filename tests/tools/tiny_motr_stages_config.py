"""The MOTR demo config shrunk for the stage tests: 64x112 frames of a synthetic MOT17, a
1-layer transformer of width 64 with 10 detect queries and 4 track slots; one epoch.

Paths come from the environment (``HAT_TEST_DATA``: the split and packed MOT17 folder,
``HAT_TEST_CKPT``) so each test run uses its own temporary folders.
"""

import os

from ...configs.track_pred.motr_efficientnetb3_mot17_demo import *  # noqa: F401,F403

task_name = "tiny_motr_stages"
data_rootdir = os.environ.get("HAT_TEST_DATA", "/tmp/hat_tiny_motr/data")
ckpt_dir = os.environ.get("HAT_TEST_CKPT", "/tmp/hat_tiny_motr/ckpt")
seed = 0
tiny_d = 64

model["head"].update(num_queries=10, in_channels=feat_channels)
model["head"]["transformer"].update(
    d_model=tiny_d, nhead=4, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=128
)
model["track_embed"].update(dim_in=tiny_d, hidden_dim=128, dim_out=tiny_d)
model["max_track_slots"] = 4
deploy_inputs.update(make_deploy_inputs(63, 112, 4, 10, tiny_d))  # frames of the test half
train_transforms[1] = dict(type="SeqResize", img_scale=(64, 112), keep_ratio=True)
val_transforms[0]["img_scale"] = (64, 112)

for loader, split in (
    (data_loader, "train_lmdb"),
    (val_data_loader, "test_lmdb"),
    (calibration_data_loader, "train_lmdb"),
    (align_bpu_data_loader, "test_lmdb"),
):
    loader["dataset"]["data_path"] = os.path.join(data_rootdir, split)
    loader["num_workers"] = 0
for _entry in list(globals().values()):  # every stage's MotMetric reads the test halves' GT
    for _key in ("metrics", "val_metrics"):
        _metrics = _entry.get(_key) if isinstance(_entry, dict) else None
        for _m in _metrics if isinstance(_metrics, list) else []:
            if isinstance(_m, dict) and _m.get("type") == "MotMetric":
                _m["gt_dir"] = os.path.join(data_rootdir, "test_gt")

relocate_outputs(ckpt_dir)  # checkpoints, TensorBoard, calibration, checkpoint loaders
relocate_mot_results(ckpt_dir)
float_trainer["num_epochs"] = 1
float_trainer["callbacks"] = [
    c for c in float_trainer["callbacks"] if c is not tensorboard_callback
]
# an untrained model scores ~0.01: track everything, so the result files hold real rows
model["runtime_tracker"].update(score_thresh=0.0, filter_score_thresh=0.0)
model["post_process"].update(score_threshold=0.0, area_threshold=0.0)
