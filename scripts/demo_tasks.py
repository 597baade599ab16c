"""The reference tasks of the demo: how each makes its synthetic data, which config it trains,
what it reports, and how long it takes.

Every command is one of the project's own tools, written as a user would type it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Step:
    """One command of the demo and what it produced."""

    name: str
    argv: list[str]
    seconds: float = 0.0
    returncode: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class DemoTask:
    """One reference task of the demo.

    ``minutes`` is the expected wall time of the whole task (data, every stage, pictures) on
    2 CPU cores; ``smoke_minutes`` the same with ``--smoke``.
    """

    key: str
    name: str
    config: str
    metric: str
    data_steps: Callable[[argparse.Namespace, str], list[Step]]
    infer_inputs: Callable[[argparse.Namespace], str]
    minutes: float
    smoke_minutes: float
    baseline: Callable[[str], tuple[Step, str, str]] | None = None  # (step, json, label)
    metrics: tuple[str, ...] = ()  # every metric reported (default: ``metric`` alone)

    @property
    def metric_keys(self) -> tuple[str, ...]:
        """The metrics of the summary rows, ``metric`` first."""
        return self.metrics or (self.metric,)


def _first_val_pair(data_dir: Path) -> int:
    """Number of the first validation pair listed in ``FlyingChairs_train_val.txt`` (or 1)."""
    split = data_dir / "FlyingChairs_train_val.txt"
    if not split.exists():
        return 1
    for i, line in enumerate(split.read_text().split()):
        if line.strip() == "2":
            return i + 1
    return 1


def _synthetic_data_steps(
    py: str, dataset: str, data_dir: str, make_opts: list[str], splits: tuple[str, ...]
) -> list[Step]:
    """Generate the synthetic ``dataset`` into ``data_dir``, then pack each of ``splits``
    (``make_opts``: the generator's options after ``--out``)."""
    make = [py, "tools/datasets/make_synthetic.py", dataset, "--out", data_dir, *make_opts]
    pack = [py, f"tools/datasets/{dataset}_packer.py", "--src-data-dir", data_dir,
            "--pack-type", "lmdb", "--num-workers", "2", "--overwrite", "--split-name"]  # fmt: skip
    return [Step("make_synthetic", make)] + [
        Step(f"pack_{split}", pack + [split]) for split in splits
    ]


def _flow_data(args: argparse.Namespace, py: str) -> list[Step]:
    opts = ["--num-pairs", str(args.num_pairs), "--seed", str(args.seed), "--height",
            str(args.height), "--width", str(args.width)]  # fmt: skip
    return _synthetic_data_steps(
        py, "flyingchairs", "tmp_data/FlyingChairs", opts, ("train", "val")
    )


def _flow_infer(args: argparse.Namespace) -> str:
    data_dir = "tmp_data/FlyingChairs"
    pair = args.infer_pair or _first_val_pair(REPO_ROOT / data_dir)
    stem = f"{data_dir}/FlyingChairs_release/data/{pair:05d}"
    return f"img1:{stem}_img1.ppm,img2:{stem}_img2.ppm,gt:{stem}_flow.flo"


def _flow_baseline(cfg: str) -> tuple[Step, str, str]:
    step = Step("baseline", [sys.executable, "-m", "hat.tools.flow_baseline", "--config", cfg])
    return step, "zero-flow-metrics.json", "zero_flow"


def _seg_data(args: argparse.Namespace, py: str) -> list[Step]:
    opts = ["--num-train", str(args.seg_num_train), "--num-val", str(args.seg_num_val),
            "--num-test", "0", "--seed", str(args.seed), "--num-workers", "2",
            "--overwrite"]  # fmt: skip
    return _synthetic_data_steps(py, "cityscapes", "tmp_data/cityscapes", opts, ("train", "val"))


def _seg_infer(args: argparse.Namespace) -> str:
    imgs = sorted((REPO_ROOT / "tmp_data/cityscapes/leftImg8bit/val").glob("*/*_leftImg8bit.png"))
    if not imgs:
        raise SystemExit("demo: no synthetic Cityscapes val image found for the picture")
    img = imgs[0]
    gt = (
        str(img)
        .replace("leftImg8bit/val", "gtFine/val")
        .replace("_leftImg8bit.png", "_gtFine_labelIds.png")
    )
    return f"img:{img},gt:{gt}"


def _stereo_data(args: argparse.Namespace, py: str) -> list[Step]:
    opts = ["--num-train", str(args.stereo_num_train), "--num-test", str(args.stereo_num_test),
            "--seed", str(args.seed), "--num-workers", "2", "--overwrite"]  # fmt: skip
    return _synthetic_data_steps(py, "sceneflow", "tmp_data/SceneFlow", opts, ("train", "test"))


def _stereo_infer(args: argparse.Namespace) -> str:
    data_dir = REPO_ROOT / "tmp_data/SceneFlow"
    lines = (data_dir / "SceneFlow_finalpass_test.txt").read_text().split("\n")
    left, right, disp = lines[0].split()[:3]
    return (
        f"imgl:{data_dir / left},imgr:{data_dir / right},gt:{data_dir / disp},baseline:0.54,f:1050"
    )


def _stereo_baseline(cfg: str) -> tuple[Step, str, str]:
    step = Step("baseline", [sys.executable, "-m", "hat.tools.disparity_baseline", "--config", cfg])
    return step, "mean-disparity-metrics.json", "train_mean_disparity"


BEV_CONFIG = "configs/bev/bev_ipm_efficientnetb0_multitask_nuscenes_demo.py"
BEV_RAW = "tmp_data/nuscenes_raw"
BEV_INFER_SAMPLE = "tmp_data/nuscenes_infer_sample"


def _bev_data(args: argparse.Namespace, py: str) -> list[Step]:
    """Synthetic nuScenes (raw layout) -> the packed train and val splits and map metas where the
    demo config reads them (``data_rootdir`` = ``{target}/{version}``, ``meta_rootdir``) -> the
    inference picture's input folder (val sample 0, with its boxes and map target)."""
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(str(REPO_ROOT / BEV_CONFIG))
    data_root = Path(config.require("data_rootdir", "the packed splits' folder", str))
    metas = config.require("meta_rootdir", "the packed map metas", str)
    target, version = str(data_root.parent), data_root.name
    make = [py, "tools/datasets/make_synthetic.py", "nuscenes", "--out", BEV_RAW,
            "--version", version, "--num-train-scenes", str(args.bev_train_scenes),
            "--num-val-scenes", str(args.bev_val_scenes), "--frames-per-scene",
            str(args.bev_frames_per_scene), "--image-size", args.bev_image_size,
            "--seed", str(args.seed), "--num-workers", "2", "--overwrite"]  # fmt: skip
    pack = [py, "tools/datasets/nuscenes_packer.py", "--src-data-dir", BEV_RAW,
            "--target-data-dir", target, "--version", version, "--pack-type", "lmdb",
            "--num-workers", "2", "--overwrite", "--split-name"]  # fmt: skip
    map_size = [str(v) for v in config.require("map_size", "the map target's grid", tuple)]
    sample = [py, "-m", "hat.infer.bev", str(data_root / "val_lmdb"), BEV_INFER_SAMPLE,
              "--map-path", metas, "--map-size", *map_size]  # fmt: skip
    return [
        Step("make_synthetic", make),
        Step("pack_train", pack + ["train"]),
        Step("pack_val", pack + ["val"]),
        Step("infer_sample", sample),
    ]


def _bev_infer(args: argparse.Namespace) -> str:
    folder = REPO_ROOT / BEV_INFER_SAMPLE
    if not (folder / "cameras.json").is_file():
        raise SystemExit(f"demo: no BEV input folder at {folder} (the infer_sample step makes it)")
    return f"img:{folder}"


def _bev_baseline(cfg: str) -> tuple[Step, str, str]:
    step = Step("baseline", [sys.executable, "-m", "hat.tools.bev_baseline", "--config", cfg])
    return step, "no-detection-metrics.json", "no_det_others_map"


# Expected minutes on 2 CPU cores. Full runs: the float training dominates (UNet: 16.5 min,
# then QAT 2.6 min, see its demo config; StereoNet: 16.4 min measured with other jobs on the
# cores, so about 20 in all). Smoke runs: process start-ups, one epoch per training stage on the
# tiny sets and the ORT alignment (PwcNet: 3.7 min with other jobs on the cores).
MOTR_CONFIG = "configs/track_pred/motr_efficientnetb3_mot17_demo.py"
MOTR_RAW = "tmp_data/MOT17"


def _motr_data(args: argparse.Namespace, py: str) -> list[Step]:
    """Synthetic MOT17 (480x270 frames) -> the half split -> packed train and test halves where
    the demo config reads them (``tmp_data/MOT17/split_data``)."""
    make = [py, "tools/datasets/make_synthetic.py", "mot17", "--out", MOTR_RAW, "--num-seqs",
            str(args.motr_seqs), "--num-test-seqs", "0", "--frames", str(args.motr_frames),
            "--image-scale", "0.25", "--seed", str(args.seed), "--num-workers", "2",
            "--overwrite"]  # fmt: skip
    split = [py, "tools/dataset_converters/gen_mot_data.py", "--src-data-path", MOTR_RAW]
    pack = [py, "tools/datasets/mot17_packer.py", "--src-data-dir", f"{MOTR_RAW}/split_data",
            "--pack-type", "lmdb", "--num-workers", "2", "--overwrite", "--split-name"]  # fmt: skip
    return [Step("make_synthetic", make), Step("split_halves", split)] + [
        Step(f"pack_{name}", pack + [name]) for name in ("train", "test")
    ]


def _motr_infer(args: argparse.Namespace) -> str:
    folders = sorted((REPO_ROOT / MOTR_RAW / "split_data/test").glob("*/img1"))
    if not folders:
        raise SystemExit("demo: no MOT17 test half found for the tracking pictures")
    return f"frames:{folders[0]},max_frames:60"


def _motr_baseline(cfg: str) -> tuple[Step, str, str]:
    """The public detections (``det.txt``) linked by IoU, evaluated like the tracker."""
    from hat.utils.run_config import RunConfig

    ckpt = REPO_ROOT / RunConfig.load(str(REPO_ROOT / cfg)).ckpt_dir
    split = f"{MOTR_RAW}/split_data"
    step = Step("baseline", [sys.executable, "tools/mot_baseline.py", "--split-dir",
                             f"{split}/test", "--gt-dir", f"{split}/test_gt", "--out-dir",
                             str(ckpt / "iou_tracker"), "--output",
                             str(ckpt / "iou-tracker-metrics.json")])  # fmt: skip
    return step, "iou-tracker-metrics.json", "iou_tracker_on_det"


TASKS = {
    "pwcnet": DemoTask(
        key="pwcnet",
        name="pwcnet_flyingchairs",
        config="configs/opticalflow_pred/pwcnet/pwcnet_pwcnetneck_flyingchairs_demo.py",
        metric="EPE",
        data_steps=_flow_data,
        infer_inputs=_flow_infer,
        baseline=_flow_baseline,
        minutes=15,
        smoke_minutes=4,
    ),
    "unet": DemoTask(
        key="unet",
        name="unet_mobilenetv1_cityscapes",
        config="configs/segmentation/unet_mobilenetv1_cityscapes_demo.py",
        metric="mIoU",
        data_steps=_seg_data,
        infer_inputs=_seg_infer,
        minutes=20,
        smoke_minutes=4,
    ),
    "stereonet": DemoTask(
        key="stereonet",
        name="stereonet_sceneflow",
        config="configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow_demo.py",
        metric="EPE",
        data_steps=_stereo_data,
        infer_inputs=_stereo_infer,
        baseline=_stereo_baseline,
        minutes=20,
        smoke_minutes=4,
    ),
    # BEV: estimated from the demo config's measured training step (1.8 s per 4 samples: 12
    # float epochs of 320 samples ~30 min, 2 QAT epochs, validation and ORT alignment of the
    # 80 val samples); the full run was not timed. Smoke: 9.0 min measured (load ~5 on the 2
    # cores). Not in the default task list.
    "bev": DemoTask(
        key="bev",
        name="bev_ipm_efficientnetb0_multitask_nuscenes",
        config=BEV_CONFIG,
        metric="NDS",
        metrics=("NDS", "mAP", "mIoU"),
        data_steps=_bev_data,
        infer_inputs=_bev_infer,
        baseline=_bev_baseline,
        minutes=50,
        smoke_minutes=9,
    ),
    # MOTR: 3 synthetic videos of 200 frames (480x270), halves of 100 frames; timed by the
    # demo run quoted in the MOTR closing note. Not in the default task list.
    "motr": DemoTask(
        key="motr",
        name="motr_efficientnetb3_mot17",
        config=MOTR_CONFIG,
        metric="MOTA",
        metrics=("MOTA", "IDF1", "HOTA"),
        data_steps=_motr_data,
        infer_inputs=_motr_infer,
        baseline=_motr_baseline,
        minutes=60,
        smoke_minutes=10,
    ),
}
DEFAULT_TASKS = ("pwcnet", "unet", "stereonet")

SMOKE_DATA = dict(num_pairs=96, seg_num_train=48, seg_num_val=12, stereo_num_train=48,
                  stereo_num_test=12, bev_train_scenes=1, bev_val_scenes=1,
                  bev_frames_per_scene=4, motr_seqs=1, motr_frames=24)  # fmt: skip


SMOKE_CALIBRATION_STEPS = 2


def smoke_opts(args: argparse.Namespace, stage: str) -> list[str]:
    """``--smoke``: one epoch per training stage and ``SMOKE_CALIBRATION_STEPS`` calibration
    steps (a check that every step runs, not a result)."""
    if not args.smoke:
        return []
    if stage == "calibration":
        return ["--opts", "calibration_trainer.num_steps", str(SMOKE_CALIBRATION_STEPS)]
    return ["--opts", f"{stage}_trainer.num_epochs", "1"]


def task_steps(task: DemoTask, args: argparse.Namespace, py: str) -> list[Step]:
    """Data, calops, float training and prediction (and the baseline) of ``task``. A demo run
    starts every stage afresh: training steps pass ``--overwrite`` (the data steps likewise)."""
    cfg = task.config
    steps = task.data_steps(args, py) + [
        Step("calops", [py, "tools/calops.py", "--config", cfg]),
        Step(
            "train_float",
            [py, "tools/train.py", "--stage", "float", "--config", cfg, "--overwrite"]
            + smoke_opts(args, "float"),
        ),
        Step("predict_float", [py, "tools/predict.py", "--stage", "float", "--config", cfg]),
    ]
    if task.baseline:
        steps.append(task.baseline(cfg)[0])
    return steps


def quant_steps(task: DemoTask, args: argparse.Namespace, py: str, inputs: str) -> list[Step]:
    """The float picture, then calibration -> qat -> int_infer -> deployment steps of ``task``."""
    cfg = task.config
    out = REPO_ROOT / args.out / task.key
    return [
        Step("infer_float", [py, "tools/infer.py", "--config", cfg, "--model-inputs", inputs,
                             "--save-path", str(out / "infer_float")]),
        Step("train_calibration",
             [py, "tools/train.py", "--stage", "calibration", "--config", cfg, "--overwrite"]
             + smoke_opts(args, "calibration")),
        Step("train_qat", [py, "tools/train.py", "--stage", "qat", "--config", cfg, "--overwrite"]
             + smoke_opts(args, "qat")),
        Step("predict_calibration",
             [py, "tools/predict.py", "--stage", "calibration", "--config", cfg]),
        Step("predict_qat", [py, "tools/predict.py", "--stage", "qat", "--config", cfg]),
        Step("predict_int_infer",
             [py, "tools/predict.py", "--stage", "int_infer", "--config", cfg]),
        Step("export_hbir", [py, "tools/export_hbir.py", "--config", cfg]),
        Step("validation_hbir",
             [py, "tools/validation_hbir.py", "--stage", "align_bpu", "--config", cfg]),
        Step("model_checker", [py, "tools/model_checker.py", "--config", cfg, "--quiet"]),
        Step("compile_perf_hbir", [py, "tools/compile_perf_hbir.py", "--config", cfg]),
        Step("infer_hbir", [py, "tools/infer_hbir.py", "--config", cfg, "--model-inputs", inputs,
                            "--save-path", str(out / "infer_hbir")]),
    ]  # fmt: skip
