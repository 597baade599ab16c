"""BEV multi-camera inference adapter: a folder of the 6 camera images and their calibration in,
the views with the projected 3D boxes, the BEV plot of the map classes and boxes, and a JSON of the
detections out.

The input folder (``--model-inputs img:FOLDER``)::

    FOLDER/CAM_FRONT_LEFT.jpg ... CAM_BACK_RIGHT.jpg   # one image per camera (.jpg/.jpeg/.png)
    FOLDER/cameras.json    # {"CAM_FRONT": {"intrinsics": 3x3, "sensor2ego": 4x4}, ...}
    FOLDER/gt.json         # optional: {"boxes": [BOX, ...]} in the ego frame
    FOLDER/gt_seg_mask.png # optional: 8-bit map class ids (rows = ego y, cols = ego x)

``sensor2ego`` maps camera coordinates (x right, y down, z forward) to the ego frame (x forward,
y left, z up); a BOX is ``{"class_name": "car", "center": [x, y, z], "size": [w, l, h],
"yaw": rad, "velocity": [vx, vy]}`` (``z`` the box centre, ``l`` along the heading; velocity
optional), the format ``predictions.json`` is written in (plus ``"score"``).
:func:`export_nuscenes_sample` (CLI: ``python -m hat.infer.bev DATA OUT``) writes such a folder from
a packed or raw nuScenes sample, e.g. of the synthetic set.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from hat.data.readers.nuscenes_constants import DETECTION_CLASSES, NUSCENES_CAMERAS
from hat.infer.base import InferInputError, InferTask
from hat.registry import OBJECT_REGISTRY

if __name__ == "__main__":
    # ``python -m hat.infer.bev``: the package ``hat.infer`` has already imported (and registered)
    # this module as ``hat.infer.bev``; run that copy instead of defining everything twice.
    from hat.infer.bev import main as _main

    raise SystemExit(_main())

__all__ = [
    "BevInfer",
    "boxes_from_json",
    "boxes_to_json",
    "export_nuscenes_sample",
    "read_bev_folder",
    "write_bev_folder",
]

CAMERAS_FILE = "cameras.json"
GT_FILE = "gt.json"
GT_MASK_FILE = "gt_seg_mask.png"
IMAGE_EXTS = (".jpg", ".jpeg", ".png")
MAP_CLASS_NAMES = ("others", "divider", "ped_crossing", "boundary")

#: The recipe's per-view tensor conversion (used when ``BevInfer`` gets no ``transforms``).
DEFAULT_TRANSFORMS = (
    dict(
        type="BevImgTransformWrapper",
        transforms=[
            dict(type="PILToTensor"),
            dict(type="BgrToYuv444", rgb_input=True),
            dict(type="Normalize", mean=128.0, std=128.0),
        ],
    ),
)


# ---------------------------------------------------------------------------------------- files
def _matrix(value: Any, shape: tuple[int, int], where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != shape or not np.isfinite(arr).all():
        got = arr.shape if arr.size else repr(value)[:60]
        raise InferInputError(
            f"{where} must be a {shape[0]}x{shape[1]} matrix of finite numbers, got {got}"
        )
    return arr


def _read_json(path: str) -> Any:
    if not os.path.isfile(path):
        raise InferInputError(f"file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InferInputError(f"{path}: not valid JSON ({exc})") from None


def _read_image(folder: str, cam: str) -> np.ndarray:
    from hat.data.codecs.nuscenes import decode_jpeg
    from hat.data.errors import CorruptFileError

    for ext in IMAGE_EXTS:
        path = os.path.join(folder, cam + ext)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            try:
                return decode_jpeg(data, path)  # PIL, as the nuScenes datasets decode
            except CorruptFileError as exc:
                raise InferInputError(str(exc)) from None
    raise InferInputError(
        f"{folder}: camera image {cam}.jpg not found (one image per camera: "
        f"{', '.join(c + '.jpg' for c in NUSCENES_CAMERAS)})"
    )


def read_cameras(path: str, cameras: Sequence[str] = NUSCENES_CAMERAS) -> dict[str, np.ndarray]:
    """``cameras.json`` -> ``{"intrinsics": (V, 3, 3), "sensor2ego": (V, 4, 4)}`` float64 in
    ``cameras`` order; errors name the file, the camera and the key."""
    data = _read_json(path)
    if not isinstance(data, Mapping):
        raise InferInputError(
            f"{path}: expected an object {{camera name: {{'intrinsics': 3x3, 'sensor2ego': 4x4}}}}"
        )
    intrinsics, sensor2ego = [], []
    for cam in cameras:
        entry = data.get(cam)
        if not isinstance(entry, Mapping):
            raise InferInputError(
                f"{path}: no entry {cam!r} (expected one per camera: {', '.join(cameras)})"
            )
        for key in ("intrinsics", "sensor2ego"):
            if key not in entry:
                raise InferInputError(f"{path}: {cam} has no {key!r}")
        k = _matrix(entry["intrinsics"], (3, 3), f"{path}: {cam}.intrinsics")
        s = _matrix(entry["sensor2ego"], (4, 4), f"{path}: {cam}.sensor2ego")
        if not np.allclose(s[3], (0, 0, 0, 1)) or abs(np.linalg.det(s[:3, :3]) - 1) > 1e-3:
            raise InferInputError(
                f"{path}: {cam}.sensor2ego must be a rigid transform (rotation, translation, last "
                f"row 0 0 0 1), got {s.tolist()}"
            )
        if k[0, 0] <= 0 or k[1, 1] <= 0 or not np.allclose(k[2], (0, 0, 1)):
            raise InferInputError(
                f"{path}: {cam}.intrinsics must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with "
                f"fx, fy > 0, got {k.tolist()}"
            )
        intrinsics.append(k)
        sensor2ego.append(s)
    return {"intrinsics": np.stack(intrinsics), "sensor2ego": np.stack(sensor2ego)}


def boxes_from_json(
    items: Any, where: str, class_names: Sequence[str] = DETECTION_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """A list of BOX objects (module doc) -> ``(N, 9)`` float64 boxes, ``(N,)`` int64 labels."""
    if not isinstance(items, list):
        raise InferInputError(f"{where}: 'boxes' must be a list of box objects")
    boxes, labels = [], []
    for i, item in enumerate(items):
        at = f"{where}: boxes[{i}]"
        if not isinstance(item, Mapping):
            raise InferInputError(f"{at} must be an object with class_name, center, size, yaw")
        for key in ("class_name", "center", "size", "yaw"):
            if key not in item:
                raise InferInputError(f"{at} has no {key!r}")
        name = item["class_name"]
        if name not in class_names:
            raise InferInputError(
                f"{at}.class_name {name!r} is not one of {', '.join(class_names)}"
            )
        values = []
        for key, n in (("center", 3), ("size", 3), ("yaw", 1), ("velocity", 2)):
            v = np.asarray(item.get(key, [0.0, 0.0]), dtype=object).reshape(-1)
            try:
                v = v.astype(np.float64)
            except (TypeError, ValueError):
                v = np.zeros(0)
            if v.shape != (n,) or not np.isfinite(v).all():
                raise InferInputError(f"{at}.{key} must be {n} finite number(s), got {item[key]!r}")
            values.append(v)
        if (values[1] <= 0).any():
            raise InferInputError(f"{at}.size must be positive [w, l, h], got {item['size']!r}")
        boxes.append(np.concatenate(values))
        labels.append(list(class_names).index(name))
    if not boxes:
        return np.zeros((0, 9)), np.zeros(0, np.int64)
    return np.stack(boxes), np.asarray(labels, np.int64)


def boxes_to_json(
    boxes: np.ndarray,
    labels: Sequence[int],
    scores: Sequence[float] | None = None,
    class_names: Sequence[str] = DETECTION_CLASSES,
) -> list[dict[str, Any]]:
    """``(N, 9)`` ego-frame boxes as BOX objects (module doc), with ``score`` when given."""
    out = []
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 9)
    for i, b in enumerate(boxes):
        item: dict[str, Any] = {
            "class_name": class_names[int(labels[i])],
            "center": [float(v) for v in b[0:3]],
            "size": [float(v) for v in b[3:6]],
            "yaw": float(b[6]),
            "velocity": [float(v) for v in b[7:9]],
        }
        if scores is not None:
            item["score"] = float(scores[i])
        out.append(item)
    return out


def read_bev_folder(
    folder: str,
    cameras: Sequence[str] = NUSCENES_CAMERAS,
    class_names: Sequence[str] = DETECTION_CLASSES,
    num_map_classes: int = len(MAP_CLASS_NAMES),
) -> dict[str, Any]:
    """The folder (module doc) as a nuScenes sample before transforms: ``img`` (list of
    ``(H, W, 3)`` uint8 RGB), ``cam_names``, ``intrinsics``, ``sensor2ego``, and with the
    optional files ``gt_boxes`` ``(N, 9)``, ``gt_labels`` ``(N,)``, ``gt_seg_mask``
    ``(rows, cols)`` int64."""
    if not os.path.isdir(folder):
        raise InferInputError(
            f"--model-inputs img: {folder} is not a folder (expected the camera images "
            f"{NUSCENES_CAMERAS[0]}.jpg ... and {CAMERAS_FILE})"
        )
    sample: dict[str, Any] = {
        "cam_names": list(cameras),
        "img": [_read_image(folder, cam) for cam in cameras],
        **read_cameras(os.path.join(folder, CAMERAS_FILE), cameras),
    }
    gt_path = os.path.join(folder, GT_FILE)
    if os.path.isfile(gt_path):
        data = _read_json(gt_path)
        if not isinstance(data, Mapping) or "boxes" not in data:
            raise InferInputError(f"{gt_path}: expected an object {{'boxes': [box, ...]}}")
        sample["gt_boxes"], sample["gt_labels"] = boxes_from_json(
            data["boxes"], gt_path, class_names
        )
    mask_path = os.path.join(folder, GT_MASK_FILE)
    if os.path.isfile(mask_path):
        import cv2

        mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
        if mask is None or mask.ndim != 2 or mask.dtype != np.uint8:
            raise InferInputError(
                f"{mask_path}: expected a single-channel 8-bit PNG of map class ids, got "
                f"{'an unreadable file' if mask is None else f'shape {mask.shape} {mask.dtype}'}"
            )
        if mask.max(initial=0) >= num_map_classes:
            raise InferInputError(
                f"{mask_path}: class id {int(mask.max())} >= the {num_map_classes} map classes"
            )
        sample["gt_seg_mask"] = mask.astype(np.int64)
    return sample


def write_bev_folder(
    folder: str,
    sample: Mapping[str, Any],
    jpegs: Sequence[bytes] | None = None,
    class_names: Sequence[str] = DETECTION_CLASSES,
) -> list[str]:
    """Write a nuScenes sample (before transforms: ``img``, ``cam_names``, ``intrinsics``,
    ``sensor2ego``, optional ``gt_boxes``/``gt_labels``/``gt_seg_mask``) as an input folder.

    ``jpegs``: the stored JPEG files of the views, written unchanged (so the folder decodes to the
    dataset's pixels); without them the views are encoded as JPEG (quality 95). Returns the paths.
    """
    import cv2

    os.makedirs(folder, exist_ok=True)
    names = list(sample.get("cam_names", NUSCENES_CAMERAS))
    paths = []
    cams = {}
    for v, cam in enumerate(names):
        path = os.path.join(folder, f"{cam}.jpg")
        if jpegs is not None:
            with open(path, "wb") as f:
                f.write(bytes(jpegs[v]))
        else:
            bgr = cv2.cvtColor(np.asarray(sample["img"][v]), cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(path, bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f"cannot write {path}")
        paths.append(path)
        cams[cam] = {
            "intrinsics": np.asarray(sample["intrinsics"][v], np.float64).tolist(),
            "sensor2ego": np.asarray(sample["sensor2ego"][v], np.float64).tolist(),
        }
    paths.append(os.path.join(folder, CAMERAS_FILE))
    with open(paths[-1], "w", encoding="utf-8") as f:
        json.dump(cams, f, indent=1)
    if sample.get("gt_boxes") is not None:
        boxes = boxes_to_json(sample["gt_boxes"], sample["gt_labels"], class_names=class_names)
        paths.append(os.path.join(folder, GT_FILE))
        with open(paths[-1], "w", encoding="utf-8") as f:
            json.dump({"frame": "ego", "boxes": boxes}, f, indent=1)
    if sample.get("gt_seg_mask") is not None:
        paths.append(os.path.join(folder, GT_MASK_FILE))
        if not cv2.imwrite(paths[-1], np.asarray(sample["gt_seg_mask"]).astype(np.uint8)):
            raise OSError(f"cannot write {paths[-1]}")
    return paths


def export_nuscenes_sample(
    data_path: str,
    folder: str,
    index: int = 0,
    version: str = "v1.0-trainval",
    split_name: str = "val",
    map_path: str | None = None,
    map_size: Sequence[float] | None = None,
) -> list[str]:
    """Write sample ``index`` of a packed split (an LMDB, e.g. ``.../val_lmdb``) or of a raw
    dataroot (``version``, ``split_name``) as an input folder, with its boxes as ``gt.json`` and,
    with ``map_path`` (the packer's ``metas`` or the dataroot) and ``map_size``, its map target
    as ``gt_seg_mask.png``. The camera JPEGs are copied unchanged."""
    from hat.data.datasets.nuscenes import NuscenesDataset, NuscenesFromImage

    if os.path.isfile(os.path.join(data_path, "data.mdb")):
        ds = NuscenesDataset(data_path, map_size=map_size, map_path=map_path)
        idx = ds._index(index)
        with ds.reader.view(idx) as value:
            jpegs = [bytes(b) for b in value["img"]]
        sample = ds[idx]
    else:
        from hat.data.readers.nuscenes_layout import read_file_bytes

        ds = NuscenesFromImage(data_path, version, split_name, map_size=map_size, map_path=map_path)
        if not -len(ds) <= index < len(ds):
            raise IndexError(f"{data_path} {split_name}: index {index} of {len(ds)} samples")
        jpegs = [read_file_bytes(data_path, c.filename) for c in ds.frames[index].cameras]
        sample = ds[index]
    return write_bev_folder(folder, sample, jpegs)


# ---------------------------------------------------------------------------------------- adapter
def _build(spec: Any, what: str) -> Any:
    from hat.registry import build_from_registry

    return build_from_registry(spec, f"infer_cfg.{what}")


def _output_template(decoders: Sequence[nn.Module]) -> dict[str, Any]:
    """The structure of ``BevStructure``'s eval outputs ``{name: head_out}``: each decoder run on
    a small zero feature pyramid (only the nesting and order are used)."""
    template: dict[str, Any] = {}
    with torch.no_grad():
        for d in decoders:
            conv = next((m for m in d.modules() if isinstance(m, nn.Conv2d)), None)
            if conv is None:
                raise ValueError(f"BevInfer: decoder {d.name!r} has no convolution")
            was_training = d.training
            d.eval()
            feats = [torch.zeros(1, conv.in_channels, 8, 8)] * 5
            template[d.name] = d(feats)
            d.train(was_training)
    return template


def _decoder_attr(decoders: Sequence[nn.Module], name: str) -> tuple | None:
    """``name`` of the first decoder (or its box ``decoder``) that has it."""
    for d in decoders:
        for part in (d, getattr(d, "decoder", None)):
            value = getattr(part, name, None)
            if value is not None:
                return tuple(value)
    return None


@OBJECT_REGISTRY.register
class BevInfer(InferTask):
    """``--model-inputs img:FOLDER`` (module doc) -> pictures and ``predictions.json``.

    ``make_batch`` builds the batch of the validation pipeline: the folder's sample goes through
    ``transforms`` (the config's validation dataset transforms, e.g. ``BevImgResize``,
    ``BevImgCrop``, ``BevImgTransformWrapper``: ``img_aug`` follows them) and
    ``collate_nuscenes``; with ``feat_stride`` the sampling points are added as ``BevIpmPoints``
    does (the config's ``val_batch_processor.batch_transforms``, which the tools run next, add
    the same). With a deploy size (the exported model) the transformed views must have it.
    ``postprocess`` arranges the model outputs (flattened in ONNX order) as ``BevStructure``
    returns them and decodes them with the decoders' ``post_process`` (``BevPostProcess``).

    Writes ``<CAM>.png`` (each view at its input size) and ``cameras.png`` (the 6 views, 2 x 3)
    with the predicted boxes dashed and the ground truth solid, ``bev.png`` (the predicted map
    classes and boxes, and the ground-truth boxes, over the detection range), ``bev_gt.png``
    (with ``gt_seg_mask.png``: the ground-truth map and boxes), ``panel.png`` (all of them and a
    legend) and ``predictions.json`` (every decoded box with its score and class name, and the
    map's class shares). Pictures show boxes scoring at least ``score_threshold``.

    Args:
        bev_decoders: the model's decoders (specs or modules; e.g. ``model["bev_decoders"]``,
            built apart from the model): decoding and NMS.
        transforms: the validation dataset transforms (e.g. ``val_transforms``; default: the
            recipe's YUV444 tensor conversion only, no resize).
        map_size: the map grid ``(lateral_half_m, forward_half_m, res_m)`` (default: the
            ``task_size`` of a decoder that has one, else ``(15, 30, 0.15)``).
        bev_size: the BEV grid ``(x_range_m, y_range_m, res_m)``: the BEV plot's extent and the
            sampling points' grid (default: the ``bev_size`` of a decoder or of its box decoder;
            none: the plot covers the map grid).
        feat_stride: the stride of the image feature the view transformer samples; with it
            ``make_batch`` adds the sampling points (None: the batch transforms add them).
        score_threshold, view_width, px_per_m: drawing settings.
    """

    input_names = ("img",)

    def __init__(
        self,
        bev_decoders: Sequence[Any],
        transforms: Sequence[Any] | None = None,
        map_size: Sequence[float] | None = None,
        bev_size: Sequence[float] | None = None,
        feat_stride: int | None = None,
        class_names: Sequence[str] = DETECTION_CLASSES,
        map_class_names: Sequence[str] = MAP_CLASS_NAMES,
        score_threshold: float = 0.3,
        view_width: int = 480,
        px_per_m: float = 6.0,
    ) -> None:
        from hat.data.transforms.compose import build_transforms
        from hat.models.structures.bev_structure import BevPostProcess

        decoders = [
            _build(d, "bev_decoders") if isinstance(d, Mapping) else d for d in bev_decoders
        ]
        if not decoders or not all(isinstance(d, nn.Module) for d in decoders):
            raise ValueError(
                "BevInfer: bev_decoders must be the model's decoders (e.g. "
                "copy.deepcopy(model['bev_decoders'])), got "
                f"{[type(d).__name__ for d in decoders]}"
            )
        self.post = BevPostProcess(decoders).eval()
        self.template = _output_template(self.post.bev_decoders)
        specs = list(DEFAULT_TRANSFORMS if transforms is None else transforms)
        self.transforms = build_transforms(
            [_build(t, "transforms") if isinstance(t, Mapping) else t for t in specs]
        )
        if map_size is None:
            map_size = _decoder_attr(decoders, "task_size") or (15.0, 30.0, 0.15)
        bev_size = bev_size if bev_size is not None else _decoder_attr(decoders, "bev_size")
        self.map_size = tuple(float(v) for v in map_size)
        self.bev_size = None if bev_size is None else tuple(float(v) for v in bev_size)
        if self.bev_size is None and feat_stride is not None:
            raise ValueError("BevInfer: feat_stride needs bev_size (no decoder has one)")
        self.feat_stride = None if feat_stride is None else int(feat_stride)
        self.class_names = list(class_names)
        self.map_class_names = list(map_class_names)
        self.score_threshold = float(score_threshold)
        self.view_width = int(view_width)
        self.px_per_m = float(px_per_m)

    def usage(self) -> str:
        return "img:FOLDER (the 6 camera images CAM_*.jpg and cameras.json; optional gt.json)"

    # -- the tools' four steps -----------------------------------------------------------------
    def load_inputs(self, values: dict[str, str]) -> dict[str, Any]:
        return read_bev_folder(
            values["img"], class_names=self.class_names, num_map_classes=len(self.map_class_names)
        )

    def make_batch(
        self, raw: dict[str, Any], size: tuple[int, int] | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        from hat.data.collates import collate_nuscenes

        sample = {k: (list(v) if k == "img" else v) for k, v in raw.items()}
        sample = self.transforms(sample) if self.transforms is not None else sample
        if not all(isinstance(v, torch.Tensor) for v in sample["img"]):
            raise InferInputError(
                "infer_cfg.transforms must turn the views into tensors (end with "
                "BevImgTransformWrapper([PILToTensor, BgrToYuv444, Normalize]) as the validation "
                "dataset does)"
            )
        batch = collate_nuscenes([sample])
        hw = tuple(batch["img"].shape[-2:])
        if size is not None and hw != tuple(size):
            raise InferInputError(
                f"the views are {hw[0]}x{hw[1]} after infer_cfg.transforms, the exported model "
                f"takes {size[0]}x{size[1]}: give BevInfer the config's validation transforms"
            )
        batch["img"] = batch["img"].float()
        if self.bev_size is not None and self.feat_stride is not None:
            from hat.models.structures.bev_points import BevIpmPoints

            batch = BevIpmPoints(self.bev_size, self.feat_stride)(batch)
        return batch, {"img_aug": batch.get("img_aug"), "hw": hw}

    def postprocess(self, outputs: list[torch.Tensor], ctx: dict[str, Any]) -> dict[str, Any]:
        from hat.quantization.output_order import output_tensors, outputs_like

        expected = len(output_tensors(self.template))
        if len(outputs) != expected:
            raise InferInputError(
                f"the model gave {len(outputs)} outputs; the decoders "
                f"{list(self.template)} expect {expected} (BevStructure's eval outputs)"
            )
        outs = outputs_like(self.template, [torch.as_tensor(o).float() for o in outputs])
        decoded = self.post(outs, None)
        result: dict[str, Any] = {
            "boxes": np.zeros((0, 9)),
            "scores": np.zeros(0),
            "labels": np.zeros(0, np.int64),
            "seg": None,
        }
        for value in decoded.values():
            if isinstance(value, list) and value and isinstance(value[0], Mapping):
                det = value[0]
                result["boxes"] = det["bboxes"].detach().cpu().numpy().astype(np.float64)
                result["scores"] = det["scores"].detach().cpu().numpy().astype(np.float64)
                result["labels"] = det["labels"].detach().cpu().numpy().astype(np.int64)
            elif isinstance(value, torch.Tensor) and value.dim() == 3:
                result["seg"] = value[0].detach().cpu().numpy().astype(np.int64)
        return result

    def save(self, result: dict[str, Any], raw: dict[str, Any], save_path: str) -> dict[str, str]:
        from hat.visualize.bev_infer_pictures import bev_infer_pictures

        pictures = bev_infer_pictures(
            raw,
            result,
            map_size=self.map_size,
            extent=self.bev_size[:2] if self.bev_size else None,
            score_threshold=self.score_threshold,
            view_width=self.view_width,
            px_per_m=self.px_per_m,
        )
        from hat.visualize.image_io import write_rgb_png

        os.makedirs(save_path, exist_ok=True)
        paths = {}
        for name, pic in pictures.items():
            paths[name] = os.path.join(save_path, f"{name}.png")
            write_rgb_png(paths[name], pic)
        paths["predictions"] = os.path.join(save_path, "predictions.json")
        with open(paths["predictions"], "w", encoding="utf-8") as f:
            json.dump(self.predictions_json(result), f, indent=1)
        return paths

    def predictions_json(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON written as ``predictions.json``: ego-frame boxes (BOX objects with scores,
        best first) and the map classes' shares of the map grid."""
        order = np.argsort(-np.asarray(result["scores"]), kind="stable")
        out: dict[str, Any] = {
            "frame": "ego",
            "boxes": boxes_to_json(
                np.asarray(result["boxes"])[order],
                np.asarray(result["labels"])[order],
                np.asarray(result["scores"])[order],
                self.class_names,
            ),
        }
        seg = result.get("seg")
        if seg is not None:
            counts = np.bincount(seg.ravel().clip(0), minlength=len(self.map_class_names))
            out["map"] = {
                "shape": list(seg.shape),
                "map_size": list(self.map_size),
                "class_share": {
                    n: float(counts[i] / seg.size) for i, n in enumerate(self.map_class_names)
                },
            }
        return out

    def summary(self, result: dict[str, Any]) -> str:
        labels = np.asarray(result["labels"])[np.asarray(result["scores"]) >= self.score_threshold]
        per = ", ".join(
            f"{self.class_names[c]} {n}" for c, n in zip(*np.unique(labels, return_counts=True))
        )
        line = f"{len(result['labels'])} boxes, {len(labels)} >= {self.score_threshold}"
        line += f" ({per})" if per else ""
        seg = result.get("seg")
        if seg is not None:
            share = np.bincount(seg.ravel().clip(0), minlength=len(self.map_class_names))
            line += "; map: " + ", ".join(
                f"{n} {100 * share[i] / seg.size:.1f} %"
                for i, n in enumerate(self.map_class_names)
                if i > 0
            )
        return line


# ---------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hat.infer.bev DATA OUT [--index I] ...``: write an input folder."""
    p = argparse.ArgumentParser(
        prog="python -m hat.infer.bev",
        description="Write a BevInfer input folder (camera JPEGs, cameras.json, gt.json and, "
        "with --map-path, gt_seg_mask.png) from a packed nuScenes split or a raw dataroot.",
    )
    p.add_argument("data_path", help="a packed split (e.g. .../val_lmdb) or a nuScenes dataroot")
    p.add_argument("out", help="the folder to write")
    p.add_argument("--index", type=int, default=0, help="the sample's index in the split")
    p.add_argument("--version", default="v1.0-trainval", help="raw dataroot: the table folder")
    p.add_argument("--split-name", default="val", help="raw dataroot: the split")
    p.add_argument("--map-path", default=None, help="the packer's metas (or the dataroot)")
    p.add_argument(
        "--map-size", type=float, nargs=3, default=None, metavar=("LATERAL", "FORWARD", "RES"),
        help="the map grid of gt_seg_mask.png, e.g. 15 30 0.15",
    )  # fmt: skip
    args = p.parse_args(argv)
    if (args.map_path is None) != (args.map_size is None):
        p.error("--map-path and --map-size go together")
    paths = export_nuscenes_sample(
        args.data_path, args.out, args.index, args.version, args.split_name,
        args.map_path, args.map_size,
    )  # fmt: skip
    for path in paths:
        print(f"wrote {path}")
    return 0
