"""Flow picture from the exported fixed-point model:
``tools/infer_hbir.py --config CFG --model-inputs img1:A.png,img2:B.png --save-path DIR``.

Runs ``{ckpt_dir}/{task}.int.onnx`` (export_hbir) with ONNX Runtime. The file has static shapes
(``deploy_inputs``): the images are resized to that size, preprocessed like validation
(``val_batch_processor.batch_transforms``), and the flow is resized back (vectors rescaled).
Writes flow.png, flow.flo and panel.png (as tools/infer.py).
"""

from __future__ import annotations

import argparse
import os

import cv2
import numpy as np

from hat.tools.deploy_common import FORMAT_NOTE, int_onnx_path, load_stage_config
from hat.utils.cli import ToolError, run_cli

__all__ = ["main"]
PROG = "hat-infer-hbir"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__ + "\n" + FORMAT_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", "-c", required=True)
    p.add_argument("--model-inputs", required=True, help="img1:PATH,img2:PATH[,gt:PATH.flo]")
    p.add_argument("--save-path", required=True)
    p.add_argument("--model", default=None, help="ONNX file (default {ckpt_dir}/{task}.int.onnx)")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE")
    return p


def run(args: argparse.Namespace) -> dict:
    import torch

    from hat.quantization.ort_runner import run_onnx
    from hat.tools.infer import parse_model_inputs, read_rgb, val_transforms
    from hat.visualize import flow_to_color, read_flo, save_flow_visualization, write_flo

    cfg = load_stage_config(args.config, "int_infer", args.opts)
    path = args.model or int_onnx_path(cfg)
    if not os.path.isfile(path):
        raise ToolError(f"no exported model at {path}: run tools/export_hbir.py first")
    inputs = parse_model_inputs(args.model_inputs)
    img1, img2 = read_rgb(inputs["img1"]), read_rgb(inputs["img2"])
    if img1.shape != img2.shape:
        raise ToolError(f"the two images differ in size: {img1.shape} vs {img2.shape}")
    gt = read_flo(inputs["gt"]) if "gt" in inputs else None
    h, w = img1.shape[:2]
    _, _, dh, dw = cfg["deploy_inputs"]["img"].shape
    pair = np.concatenate(
        [cv2.resize(i, (dw, dh), interpolation=cv2.INTER_LINEAR) for i in (img1, img2)], axis=2
    )
    batch = {"img": torch.from_numpy(pair.transpose(2, 0, 1).copy()).float().unsqueeze(0)}
    for t in val_transforms(cfg):
        batch = t(batch)
    out = run_onnx(path, {"img": batch["img"]}, level="all")
    flow = next(iter(out.values()))[0].transpose(1, 2, 0)
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    flow[..., 0] *= w / dw
    flow[..., 1] *= h / dh
    os.makedirs(args.save_path, exist_ok=True)
    paths = {
        k: os.path.join(args.save_path, f)
        for k, f in (("flow_png", "flow.png"), ("flow_flo", "flow.flo"), ("panel", "panel.png"))
    }
    cv2.imwrite(paths["flow_png"], cv2.cvtColor(flow_to_color(flow), cv2.COLOR_RGB2BGR))
    write_flo(paths["flow_flo"], flow.astype(np.float32))
    save_flow_visualization(paths["panel"], img1, img2, flow, gt=gt)
    mag = np.linalg.norm(flow, axis=-1)
    print(
        f"model {path} (ORT, deploy size {dh}x{dw}); flow {w}x{h}: mean |flow| "
        f"{mag.mean():.3f} px, max {mag.max():.3f} px"
    )
    for p in paths.values():
        print(f"wrote {p}")
    return paths


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (run(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
