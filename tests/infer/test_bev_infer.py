"""BevInfer: the input folder (written from a packed or raw synthetic nuScenes sample, read back
with errors naming the file and key), the batch it builds equals the validation dataset's, the
outputs in ONNX order decode as the model's own post-processing, the pictures have their sizes
and boxes land where the projection says, and tools/infer.py runs the tiny BEV model on a folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hat.data.collates import collate_nuscenes
from hat.data.datasets.nuscenes import NuscenesDataset, NuscenesFromImage
from hat.data.readers.nuscenes_constants import NUSCENES_CAMERAS
from hat.infer.base import InferInputError, flatten_outputs
from hat.infer.bev import BevInfer, export_nuscenes_sample, read_bev_folder
from hat.models.structures.bev_points import BevIpmPoints
from hat.registry import build_from_registry
from hat.utils.run_config import RunConfig
from hat.visualize.bev_prediction import bev_canvas_pixel
from hat.visualize.nuscenes_boxes import box_corners, view_projection
from hat.visualize.nuscenes_plot import CLASS_COLORS

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "tools" / "tiny_bev_stages_config.py"
CAMS = NUSCENES_CAMERAS
MAP_SIZE = (6.0, 12.0, 0.6)  # the tiny config's map grid: 20 x 40
CAR, PEDESTRIAN = 0, 7

INFER_CFG = """
import copy

from tiny_bev_stages_config import *  # noqa: F401,F403

infer_cfg = dict(
    type="BevInfer",
    bev_decoders=copy.deepcopy(model["bev_decoders"]),
    transforms=copy.deepcopy(val_transforms),
    feat_stride=feat_stride,
)
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A synthetic nuScenes dataroot (1 val scene, 2 key frames of 160x90) and its packed val
    split with the map metas."""
    from hat.tools.make_synthetic import main as make_synthetic
    from hat.tools.nuscenes_packer import main as pack

    base = tmp_path_factory.mktemp("bev_infer")
    raw, packed = base / "raw", base / "packed"
    argv = [
        "nuscenes", "--out", str(raw), "--num-train-scenes", "1", "--num-val-scenes", "1",
        "--frames-per-scene", "2", "--image-size", "160x90", "--seed", "0",
    ]  # fmt: skip
    assert make_synthetic(argv) == 0
    argv = [
        "--src-data-dir", str(raw), "--target-data-dir", str(packed), "--split-name", "val",
        "--pack-type", "lmdb", "--num-workers", "0",
    ]  # fmt: skip
    assert pack(argv) in (0, None)
    return {
        "raw": raw,
        "lmdb": packed / "v1.0-trainval" / "val_lmdb",
        "metas": packed / "metas",
        "base": base,
    }


@pytest.fixture(scope="module")
def config(data):
    """The tiny BEV stage-chain config with an ``infer_cfg``, loaded from a copy of the config
    tree's layout (its relative imports resolve through links to the repository's files)."""
    root = data["base"] / "cfg"
    (root / "tests" / "tools").mkdir(parents=True)
    os.symlink(REPO / "configs", root / "configs")
    os.symlink(TINY, root / "tests" / "tools" / TINY.name)
    path = root / "tests" / "tools" / "bev_infer_config.py"
    path.write_text(INFER_CFG)
    return str(path)


@pytest.fixture(scope="module")
def run_config(config):
    return RunConfig.load(config, "float")


@pytest.fixture(scope="module")
def task(run_config):
    return run_config.infer_task()


@pytest.fixture(scope="module")
def folder(data):
    out = data["base"] / "sample1"
    export_nuscenes_sample(
        str(data["lmdb"]), str(out), index=1, map_path=str(data["metas"]), map_size=MAP_SIZE
    )
    return out


def test_folder_holds_the_dataset_sample(data, folder):
    ds = NuscenesDataset(str(data["lmdb"]), map_path=str(data["metas"]), map_size=MAP_SIZE)
    ref = ds[1]
    got = read_bev_folder(str(folder))
    assert sorted(os.listdir(folder)) == sorted(
        [f"{c}.jpg" for c in CAMS] + ["cameras.json", "gt.json", "gt_seg_mask.png"]
    )
    assert got["cam_names"] == list(CAMS) == ref["cam_names"]
    for a, b in zip(got["img"], ref["img"]):
        np.testing.assert_array_equal(a, b)  # the stored JPEGs, decoded as the dataset does
    for key in ("intrinsics", "sensor2ego", "gt_boxes", "gt_labels", "gt_seg_mask"):
        np.testing.assert_array_equal(got[key], ref[key], err_msg=key)
    assert len(got["gt_boxes"]) > 3 and got["gt_seg_mask"].shape == (20, 40)
    assert set(np.unique(got["gt_seg_mask"])) == {0, 1}  # the tiny grid: others and divider

    # from the raw dataroot (the CLI): the same kind of folder, equal to NuscenesFromImage's item
    raw_out = data["base"] / "raw_sample0"
    res = subprocess.run(
        [sys.executable, "-m", "hat.infer.bev", str(data["raw"]), str(raw_out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("wrote ") == 8  # 6 images, cameras.json, gt.json
    ref = NuscenesFromImage(str(data["raw"]), "v1.0-trainval", "val")[0]
    got = read_bev_folder(str(raw_out))
    assert not (raw_out / "gt_seg_mask.png").exists()
    for a, b in zip(got["img"], ref["img"]):
        np.testing.assert_array_equal(a, b)
    for key in ("intrinsics", "sensor2ego", "gt_boxes", "gt_labels"):
        np.testing.assert_array_equal(got[key], ref[key], err_msg=key)


def test_batch_equals_the_validation_batch(data, folder, task, run_config):
    cfg = run_config.cfg
    ds = NuscenesDataset(
        str(data["lmdb"]),
        transforms=cfg["val_transforms"],
        map_path=str(data["metas"]),
        map_size=MAP_SIZE,
    )
    ref = collate_nuscenes([ds[1]])
    ref = BevIpmPoints(cfg["bev_size"], cfg["feat_stride"])(ref)
    assert isinstance(task, BevInfer)  # grids from the decoders: the tiny config's
    assert task.map_size == MAP_SIZE and task.bev_size == (12.8, 12.8, 1.6)
    raw = task.load_inputs({"img": str(folder)})
    batch, _ = task.make_batch(raw, None)
    assert tuple(batch["img"].shape) == (6, 3, 64, 96)
    for key in ("img", "intrinsics", "sensor2ego", "img_aug", "points", "gt_seg_mask"):
        assert batch[key].dtype == ref[key].dtype, key
        torch.testing.assert_close(batch[key], ref[key], rtol=0, atol=0, msg=key)
    # the resize 160x90 -> 120x68 then the centre crop to 96x64: a scale and a shift
    aug = batch["img_aug"][0, 0].numpy()
    np.testing.assert_allclose(aug[:2, :2], np.diag([120 / 160, 68 / 90]), atol=1e-12)
    # the deploy shapes of the exported model
    batch, _ = task.make_batch(raw, (64, 96))
    deploy = run_config.deploy_inputs()
    assert tuple(batch["points"].shape) == tuple(deploy["points"].shape) == (6, 16, 16, 2)
    assert tuple(batch["img"].shape) == tuple(deploy["img"].shape)
    with pytest.raises(InferInputError, match=r"64x96 after infer_cfg.transforms.*takes 128x224"):
        task.make_batch(raw, (128, 224))


def test_outputs_in_onnx_order_decode_as_the_model(folder, task, run_config):
    torch.manual_seed(0)
    model = build_from_registry(run_config.model_spec(), "model").eval()
    raw = task.load_inputs({"img": str(folder)})
    batch, ctx = task.make_batch(raw, (64, 96))
    with torch.no_grad():
        outs = model(batch)
    ref = model.post_process(outs, batch)
    flat = [t.numpy() for t in flatten_outputs(outs)]  # as ONNX Runtime returns them
    assert len(flat) == 1 + 6 * 6
    result = task.postprocess([torch.from_numpy(a) for a in flat], ctx)
    np.testing.assert_array_equal(result["seg"], ref["bev_seg"][0].numpy())
    np.testing.assert_allclose(result["boxes"], ref["bev_det"][0]["bboxes"].double().numpy())
    np.testing.assert_array_equal(result["labels"], ref["bev_det"][0]["labels"].numpy())
    assert len(result["boxes"]) > 0 and result["seg"].shape == (20, 40)
    with pytest.raises(InferInputError, match="gave 36 outputs.*expect 37"):
        task.postprocess([torch.from_numpy(a) for a in flat[1:]], ctx)


# ------------------------------------------------------------------------------ folder errors
def _edit(folder: Path, tmp_path: Path, name: str, edit) -> Path:
    out = tmp_path / "in"
    shutil.copytree(folder, out)
    edit(out / name)
    return out


def _json_edit(fn):
    def edit(path: Path) -> None:
        data = json.loads(path.read_text())
        fn(data)
        path.write_text(json.dumps(data))

    return edit


def _set(obj, keys, value):
    for k in keys[:-1]:
        obj = obj[k]
    if value is _DELETE:
        del obj[keys[-1]]
    else:
        obj[keys[-1]] = value


_DELETE = object()


@pytest.mark.parametrize(
    "name, edit, message",
    [
        ("CAM_BACK.jpg", os.remove, r"camera image CAM_BACK\.jpg not found"),
        ("CAM_FRONT.jpg", lambda p: p.write_bytes(b"xx"), r"CAM_FRONT\.jpg.*undecodable"),
        ("cameras.json", os.remove, r"file not found: .*cameras\.json"),
        ("cameras.json", lambda p: p.write_text("{"), r"cameras\.json: not valid JSON"),
        (
            "cameras.json",
            _json_edit(lambda d: _set(d, ["CAM_BACK_LEFT"], _DELETE)),
            r"cameras\.json: no entry 'CAM_BACK_LEFT'",
        ),
        (
            "cameras.json",
            _json_edit(lambda d: _set(d, ["CAM_FRONT", "sensor2ego"], _DELETE)),
            r"cameras\.json: CAM_FRONT has no 'sensor2ego'",
        ),
        (
            "cameras.json",
            _json_edit(lambda d: _set(d, ["CAM_BACK", "intrinsics"], [[1, 0, 0], [0, 1, 0]])),
            r"cameras\.json: CAM_BACK\.intrinsics must be a 3x3 matrix.*got \(2, 3\)",
        ),
        (
            "cameras.json",
            _json_edit(lambda d: _set(d, ["CAM_BACK", "sensor2ego", 0, 0], 2.0)),
            r"cameras\.json: CAM_BACK\.sensor2ego must be a rigid transform",
        ),
        (
            "gt.json",
            _json_edit(lambda d: _set(d, ["boxes", 2, "class_name"], "tram")),
            r"gt\.json: boxes\[2\]\.class_name 'tram' is not one of car, truck",
        ),
        (
            "gt.json",
            _json_edit(lambda d: _set(d, ["boxes", 1, "size"], _DELETE)),
            r"gt\.json: boxes\[1\] has no 'size'",
        ),
        (
            "gt.json",
            _json_edit(lambda d: _set(d, ["boxes", 0, "center"], [1.0, "a"])),
            r"gt\.json: boxes\[0\]\.center must be 3 finite number",
        ),
        (
            "gt_seg_mask.png",
            lambda p: cv2.imwrite(str(p), np.full((20, 40), 7, np.uint8)),
            r"gt_seg_mask\.png: class id 7 >= the 4 map classes",
        ),
    ],
)
def test_folder_errors_name_file_and_key(folder, tmp_path, name, edit, message):
    bad = _edit(folder, tmp_path, name, edit)
    with pytest.raises(InferInputError, match=message):
        read_bev_folder(str(bad))


def test_not_a_folder(tmp_path):
    with pytest.raises(InferInputError, match=r"img: .*nope is not a folder"):
        read_bev_folder(str(tmp_path / "nope"))


# ------------------------------------------------------------------------------ pictures
H, W = 90, 160
K = np.array([[120.0, 0.0, 80.0], [0.0, 120.0, 45.0], [0.0, 0.0, 1.0]])
YAWS = (55.0, 0.0, -55.0, 110.0, 180.0, -110.0)


def _sensor2ego(yaw_deg: float) -> np.ndarray:
    a = math.radians(yaw_deg)
    fwd = np.array([math.cos(a), math.sin(a), 0.0])
    left = np.array([-math.sin(a), math.cos(a), 0.0])
    m = np.eye(4)
    m[:3, :3] = np.stack([-left, [0.0, 0.0, -1.0], fwd], axis=1)  # columns: cam x, y, z
    m[:3, 3] = (1.0, 0.0, 1.6)
    return m


def _project(point: np.ndarray, view: int) -> np.ndarray:
    cam_from_ego, img_from_cam = view_projection(K, _sensor2ego(YAWS[view]))
    p = cam_from_ego[:3, :3] @ point + cam_from_ego[:3, 3]
    uvw = img_from_cam @ p
    return uvw[:2] / uvw[2]


def test_pictures_boxes_land_where_projected(task, tmp_path):
    gt_box = np.array([[9.0, 1.0, 0.9, 0.8, 0.8, 1.8, 0.3, 0.0, 0.0]])  # a pedestrian ahead
    pred_box = np.array([[-10.0, 0.5, 0.8, 1.9, 4.4, 1.6, 0.2, 0.0, 0.0]])  # a car behind
    seg = np.zeros((20, 40), np.int64)
    seg[:, 20:] = 2  # ped_crossing ahead (x > 0), others behind
    raw = {
        "img": [np.full((H, W, 3), 90, np.uint8) for _ in YAWS],
        "cam_names": list(CAMS),
        "intrinsics": np.stack([K] * 6),
        "sensor2ego": np.stack([_sensor2ego(y) for y in YAWS]),
        "gt_boxes": gt_box,
        "gt_labels": np.array([PEDESTRIAN]),
        "gt_seg_mask": seg,
    }
    result = {
        "boxes": np.concatenate([pred_box, pred_box + 20.0]),  # the second one scores 0.1
        "scores": np.array([0.9, 0.1]),
        "labels": np.array([CAR, CAR]),
        "seg": seg,
    }
    paths = task.save(result, raw, str(tmp_path))
    assert set(paths) == {*CAMS, "cameras", "bev", "bev_gt", "panel", "predictions"}
    pics = {k: cv2.imread(v)[..., ::-1] for k, v in paths.items() if v.endswith(".png")}
    for cam in CAMS:
        assert pics[cam].shape == (H, W, 3)
    assert pics["cameras"].shape == (2 * 270, 3 * 480, 3)
    assert pics["bev"].shape == pics["bev_gt"].shape == (154, 154, 3)  # +-12.8 m at 6 px/m
    assert pics["panel"].shape[1] == 3 * 480 + 2 * (4 + pics["cameras"].shape[0])

    # the solid GT box in CAM_FRONT: its front face's centre (crossing diagonals) is drawn
    corners = box_corners(gt_box)[0]
    centre = _project(corners[:4].mean(0), 1)
    u, v = np.round(centre).astype(int)
    assert 0 <= u < W and 0 <= v < H
    assert tuple(pics["CAM_FRONT"][v, u]) == CLASS_COLORS[PEDESTRIAN]
    # the dashed prediction in CAM_BACK: every projected corner starts a dash
    seen = 0
    for corner in box_corners(pred_box)[0]:
        u, v = np.round(_project(corner, 4)).astype(int)
        if 0 <= u < W and 0 <= v < H:
            assert tuple(pics["CAM_BACK"][v, u]) == CLASS_COLORS[CAR], (u, v)
            seen += 1
    assert seen >= 4
    assert (pics["CAM_FRONT"] == CLASS_COLORS[CAR]).all(-1).sum() == 0  # not seen ahead
    # BEV: the footprints' corners, the map classes on their side, the low-score box left out
    extent, ppm = (12.8, 12.8), 6.0
    for box, label in ((gt_box, PEDESTRIAN), (pred_box, CAR)):
        for corner in box_corners(box)[0][[0, 1, 5, 4], :2]:
            c, r = np.round(bev_canvas_pixel(corner, extent, ppm)).astype(int)
            assert tuple(pics["bev"][r, c]) == CLASS_COLORS[label], (label, r, c)
    c, r = np.round(bev_canvas_pixel(np.array([5.0, -4.0]), extent, ppm)).astype(int)
    assert tuple(pics["bev"][r, c]) == (70, 130, 255)  # ped_crossing ahead
    c, r = np.round(bev_canvas_pixel(np.array([-5.0, -4.0]), extent, ppm)).astype(int)
    assert tuple(pics["bev"][r, c]) == (40, 40, 40)  # others behind
    c, r = np.round(bev_canvas_pixel(np.array([0.0, 10.0]), extent, ppm)).astype(int)
    assert tuple(pics["bev"][r, c]) == (96, 96, 96)  # beyond the map's 6 m
    assert not (pics["bev_gt"] == CLASS_COLORS[CAR]).all(-1).any()  # no prediction in the GT

    pred = json.loads(Path(paths["predictions"]).read_text())
    assert [b["score"] for b in pred["boxes"]] == [0.9, 0.1]
    assert pred["boxes"][0]["class_name"] == "car"
    assert pred["boxes"][0]["center"] == [-10.0, 0.5, 0.8]
    assert pred["map"]["class_share"] == {
        "others": 0.5, "divider": 0.0, "ped_crossing": 0.5, "boundary": 0.0
    }  # fmt: skip


def test_infer_tool_on_a_folder(config, folder, tmp_path):
    from hat.tools.infer import build_parser, run

    out = tmp_path / "out"
    args = build_parser().parse_args(
        ["--config", config, "--model-inputs", f"img:{folder}", "--save-path", str(out),
         "--no-ckpt"]
    )  # fmt: skip
    paths = run(args)
    assert set(paths) == {*CAMS, "cameras", "bev", "bev_gt", "panel", "predictions"}
    assert cv2.imread(paths["CAM_FRONT"]).shape == (90, 160, 3)
    pred = json.loads(Path(paths["predictions"]).read_text())
    assert pred["frame"] == "ego" and pred["map"]["shape"] == [20, 40]
    assert abs(sum(pred["map"]["class_share"].values()) - 1.0) < 1e-9
    scores = [b["score"] for b in pred["boxes"]]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.1  # decoder threshold
    # a file-naming error reaches the user as the adapter's message
    with pytest.raises(InferInputError, match="not a folder"):
        run(build_parser().parse_args(
            ["--config", config, "--model-inputs", f"img:{tmp_path / 'x'}", "--save-path",
             str(out), "--no-ckpt"]
        ))  # fmt: skip


class _Deployed(torch.nn.Module):
    """The model with the deployed inputs ``(img, points)``, for an ONNX export."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, img: torch.Tensor, points: torch.Tensor):
        return self.model({"img": img, "points": points})


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_infer_hbir_on_a_folder(config, folder, task, run_config, tmp_path):
    """infer_hbir.py on an ONNX file with the deployed inputs img + points (here the float
    model's export, which has the integer export's inputs and outputs): the written predictions
    are those of the PyTorch model on the same batch."""
    from hat.quantization.output_order import named_outputs
    from hat.tools.infer_hbir import build_parser, run

    torch.manual_seed(0)
    model = build_from_registry(run_config.model_spec(), "model").eval()
    deploy = run_config.deploy_inputs()
    with torch.no_grad():
        names = [n for n, _ in named_outputs(model(dict(deploy)))]
    onnx_path = tmp_path / "bev.onnx"
    torch.onnx.export(
        _Deployed(model).eval(),
        (deploy["img"], deploy["points"]),
        str(onnx_path),
        input_names=["img", "points"],
        output_names=names,
        opset_version=17,
        dynamo=False,
    )
    out = tmp_path / "out"
    args = ["--config", config, "--model-inputs", f"img:{folder}", "--save-path", str(out)]
    paths = run(build_parser().parse_args([*args, "--model", str(onnx_path)]))
    assert set(paths) == {*CAMS, "cameras", "bev", "bev_gt", "panel", "predictions"}
    pred = json.loads(Path(paths["predictions"]).read_text())

    raw = task.load_inputs({"img": str(folder)})
    batch, ctx = task.make_batch(raw, (64, 96))
    with torch.no_grad():
        ref = task.postprocess(flatten_outputs(model(batch)), ctx)
    ref_json = task.predictions_json(ref)
    assert len(pred["boxes"]) == len(ref_json["boxes"]) > 0
    for a, b in zip(pred["boxes"], ref_json["boxes"]):
        assert a["class_name"] == b["class_name"]
        np.testing.assert_allclose(a["center"] + a["size"], b["center"] + b["size"], atol=1e-3)
        assert abs(a["score"] - b["score"]) < 1e-4
    assert pred["map"] == ref_json["map"]
