"""Predict optical flow for two images and save pictures.

``python3 tools/infer.py --config CFG --model-inputs img1:A.png,img2:B.png --save-path DIR``
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hat.tools.calops import ToolError, build_model, load_config

__all__ = ["main", "pad_to_multiple", "parse_model_inputs", "preprocess", "yuv444_normalize"]

DESCRIPTION = """\
Run the config's `model` on two images and write to --save-path:
  flow.png   Middlebury colour coding of the predicted flow,
  flow.flo   the flow (Middlebury .flo, pixels of the input images),
  panel.png  image 1 | image 2 | flow (+ ground truth and error map when `gt:` is given).

Preprocessing is the validation one: the images are read as RGB, stacked to (1, 6, H, W) and
passed through the config's `val_batch_processor.batch_transforms` (BgrToYuv444 + normalise
(x - 128) / 128). If those cannot be built, an equivalent built-in BT.601 YUV444 conversion is
used (with a warning). Images whose sides are not multiples of 64 (the pyramid's stride) are
padded at the bottom/right by edge replication and the flow is cropped back, so flow values
stay in the input's pixels.
"""

PAD_MULTIPLE = 64


def parse_model_inputs(text: str) -> dict[str, str]:
    """``"img1:A,img2:B[,gt:C.flo]"`` -> ``{"img1": A, "img2": B, ...}`` (files must exist)."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, path = item.partition(":")
        if not sep or not name or not path:
            raise ToolError(
                f"bad --model-inputs item {item!r}; expected img1:PATH,img2:PATH[,gt:PATH.flo]"
            )
        if name not in ("img1", "img2", "gt"):
            raise ToolError(f"unknown --model-inputs name {name!r}; use img1, img2 and gt")
        if name in out:
            raise ToolError(f"--model-inputs names {name!r} twice")
        out[name] = path
    missing = [n for n in ("img1", "img2") if n not in out]
    if missing:
        raise ToolError(f"--model-inputs is missing {', '.join(missing)}")
    for name, path in out.items():
        if not os.path.isfile(path):
            raise ToolError(f"{name}: file not found: {path}")
    return out


def read_rgb(path: str) -> np.ndarray:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ToolError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def pad_to_multiple(img: torch.Tensor, multiple: int = PAD_MULTIPLE) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom/right (edge replication) to multiples of ``multiple``."""
    h, w = img.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return img
    return F.pad(img, [0, pw, 0, ph], mode="replicate")


def yuv444_normalize(batch: dict) -> dict:
    """Built-in fallback: RGB (0..255) -> YUV444 (``hat.data``'s BT.601 conversion, rounded and
    clamped like a camera image), then ``(x - 128) / 128``."""
    try:
        from hat.data.transforms.functional import rgb_to_yuv444
    except ImportError:
        rgb_to_yuv444 = _rgb_to_yuv444
    batch["img"] = (rgb_to_yuv444(batch["img"], True) - 128.0) / 128.0
    return batch


def _rgb_to_yuv444(img: torch.Tensor, rgb_input: bool = True) -> torch.Tensor:
    out = []
    for rgb in img.split(3, dim=1):
        r, g, b = rgb.unbind(dim=1) if rgb_input else rgb.flip(1).unbind(dim=1)
        y = 0.299 * r + 0.587 * g + 0.114 * b
        u = -0.1687 * r - 0.3313 * g + 0.5 * b + 128.0
        v = 0.5 * r - 0.4187 * g - 0.0813 * b + 128.0
        out.append(torch.stack([y, u, v], dim=1))
    return torch.cat(out, dim=1).round_().clamp_(0, 255)


def _warn(msg: str) -> None:
    print(f"infer: warning: {msg}", file=sys.stderr)


def val_transforms(cfg: Mapping[str, Any]) -> list[Callable[[dict], dict]]:
    """The config's validation batch transforms, or the built-in equivalent."""
    from hat.registry import build_from_registry

    try:
        proc = cfg["val_batch_processor"]
        specs = proc.get("batch_transforms") if isinstance(proc, Mapping) else None
    except KeyError:
        specs = None
    if specs:
        try:
            return list(build_from_registry(list(specs), "val_batch_processor.batch_transforms"))
        except Exception as exc:  # noqa: BLE001 - fall back, but say so
            _warn(
                f"could not build val_batch_processor.batch_transforms ({exc}); using the "
                "built-in RGB->YUV444 + (x-128)/128 preprocessing"
            )
    else:
        _warn(
            "config has no val_batch_processor.batch_transforms; using the built-in "
            "RGB->YUV444 + (x-128)/128 preprocessing"
        )
    return [yuv444_normalize]


def preprocess(
    img1: np.ndarray, img2: np.ndarray, transforms: list[Callable[[dict], dict]]
) -> torch.Tensor:
    """Two RGB uint8 images -> the model's ``(1, 6, H', W')`` input (padded to x64)."""
    if img1.shape != img2.shape:
        raise ToolError(f"the two images differ in size: {img1.shape} vs {img2.shape}")
    pair = np.concatenate([img1, img2], axis=2).transpose(2, 0, 1)
    img = torch.from_numpy(np.ascontiguousarray(pair)).float().unsqueeze(0)
    batch = {"img": pad_to_multiple(img)}
    for t in transforms:
        batch = t(batch)
    return batch["img"]


def load_checkpoint(model: nn.Module, path: str) -> None:
    """Load ``state_dict`` from a checkpoint (``{"state_dict": ...}`` or a bare state dict)."""
    if not os.path.isfile(path):
        raise ToolError(f"checkpoint not found: {path} (pass --ckpt PATH, or --no-ckpt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unreadable file is a user error
        raise ToolError(f"cannot read checkpoint {path}: {exc}") from exc
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping):
        raise ToolError(f"{path} holds no state_dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ToolError(
            f"checkpoint {path} does not match the model: {len(result.missing_keys)} missing "
            f"keys (e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected "
            f"(e.g. {result.unexpected_keys[:3]})"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="infer", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", "-c", required=True, help="config file (.py)")
    parser.add_argument(
        "--model-inputs",
        required=True,
        help="img1:PATH,img2:PATH[,gt:PATH.flo] (gt adds ground truth and error to the panel)",
    )
    parser.add_argument("--save-path", required=True, help="output directory")
    parser.add_argument(
        "--ckpt", default=None, help="checkpoint (default {ckpt_dir}/float-checkpoint-best.pth.tar)"
    )
    parser.add_argument("--no-ckpt", action="store_true", help="keep random weights (smoke tests)")
    parser.add_argument(
        "--stage", default="float", help="model stage; only 'float' is supported for now"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, str]:
    from hat.visualize import flow_to_color, read_flo, save_flow_visualization, write_flo

    if args.stage != "float":
        raise ToolError(f"--stage {args.stage!r} is not supported yet; use --stage float")
    inputs = parse_model_inputs(args.model_inputs)
    cfg = load_config(args.config)
    model = build_model(cfg)
    if not args.no_ckpt:
        ckpt = args.ckpt
        if ckpt is None:
            ckpt_dir = cfg.get("ckpt_dir")
            if not ckpt_dir:
                raise ToolError("the config has no ckpt_dir; pass --ckpt PATH")
            ckpt = os.path.join(ckpt_dir, f"{args.stage}-checkpoint-best.pth.tar")
        load_checkpoint(model, ckpt)
    img1, img2 = read_rgb(inputs["img1"]), read_rgb(inputs["img2"])
    gt = read_flo(inputs["gt"]) if "gt" in inputs else None
    if gt is not None and gt.shape[:2] != img1.shape[:2]:
        raise ToolError(f"gt flow {gt.shape[:2]} and images {img1.shape[:2]} differ in size")
    x = preprocess(img1, img2, val_transforms(cfg))
    model.eval()
    with torch.no_grad():
        out = model({"img": x})
    flow = out["flow"] if isinstance(out, Mapping) else out
    h, w = img1.shape[:2]
    flow = flow[0, :, :h, :w].float().cpu().numpy().transpose(1, 2, 0)

    import cv2

    os.makedirs(args.save_path, exist_ok=True)
    paths = {
        "flow_png": os.path.join(args.save_path, "flow.png"),
        "flow_flo": os.path.join(args.save_path, "flow.flo"),
        "panel": os.path.join(args.save_path, "panel.png"),
    }
    if not cv2.imwrite(paths["flow_png"], cv2.cvtColor(flow_to_color(flow), cv2.COLOR_RGB2BGR)):
        raise ToolError(f"cannot write {paths['flow_png']}")
    write_flo(paths["flow_flo"], flow)
    save_flow_visualization(paths["panel"], img1, img2, flow, gt=gt)
    mag = np.linalg.norm(flow, axis=-1)
    print(f"flow {w}x{h}: mean |flow| {mag.mean():.3f} px, max {mag.max():.3f} px")
    for p in paths.values():
        print(f"wrote {p}")
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except ToolError as exc:
        print(f"infer: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
