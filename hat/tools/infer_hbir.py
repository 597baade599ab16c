"""Pictures from the exported fixed-point model:
``tools/infer_hbir.py --config CFG --model-inputs NAME:PATH,... --save-path DIR``.

Runs ``{ckpt_dir}/{task}.int.onnx`` (export_hbir) with ONNX Runtime. The file has static shapes
(``deploy_inputs``): the config's ``infer_cfg`` task adapter (hat/infer/) resizes the inputs to
that size and maps the outputs back; preprocessing is the validation one
(``val_batch_processor.batch_transforms``). Writes the same files as tools/infer.py.
"""

from __future__ import annotations

import argparse

from hat.tools.deploy_common import add_exported_model_arg, deploy_parser, exported_model_path
from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.run_config import RunConfig

__all__ = ["main"]
PROG = "hat-infer-hbir"


def build_parser() -> argparse.ArgumentParser:
    p = deploy_parser(PROG, __doc__)
    add_config_args(p)
    p.add_argument(
        "--model-inputs", required=True, help="NAME:PATH,... as the config's infer_cfg task reads"
    )
    p.add_argument("--save-path", required=True)
    add_exported_model_arg(p)
    return p


def run(args: argparse.Namespace) -> dict[str, str]:
    import torch

    from hat.infer import parse_model_inputs
    from hat.quantization.ort_runner import make_session
    from hat.tools.infer import val_transforms

    config = RunConfig.load(args.config, "int_infer", args.opts)
    task = config.infer_task()
    values = parse_model_inputs(args.model_inputs, task)
    path = exported_model_path(config, args.model)
    if getattr(task, "sequential", False):
        return _run_sequence(config, task, values, path, args.save_path)
    sess = make_session(path, "all")
    names = [i.name for i in sess.get_inputs()]
    shapes = {k: tuple(v.shape) for k, v in config.deploy_inputs().items()}
    size = tuple(shapes[names[0]][-2:])
    raw = task.load_inputs(values)
    batch, ctx = task.make_batch(raw, size)
    for t in val_transforms(config):
        batch = t(batch)
    missing = [n for n in names if n not in batch]
    if missing:
        raise ToolError(f"the task's batch lacks the model inputs {missing}")
    for n in names:
        if shapes.get(n) and tuple(batch[n].shape) != shapes[n]:
            raise ToolError(f"input {n}: batch shape {tuple(batch[n].shape)} vs deploy {shapes[n]}")
    feeds = {n: batch[n].detach().float().cpu().numpy() for n in names}
    outputs = [torch.from_numpy(o) for o in sess.run(None, feeds)]
    result = task.postprocess(outputs, ctx)
    paths = task.save(result, raw, args.save_path)
    line = task.summary(result)
    print(f"model {path} (ORT, deploy size {size[0]}x{size[1]})" + (f"; {line}" if line else ""))
    for p in paths.values():
        print(f"wrote {p}")
    return paths


def _run_sequence(config: RunConfig, task, values: dict, path: str, save_path: str) -> dict:
    """A tracker: every deployed graph on ORT, the host code between them (queries, runtime
    tracker, slots, post-processing) from the integer model, over the whole sequence."""
    from hat.quantization.ort_graphs_alignment import graphs_on_ort, supports_graph_alignment
    from hat.tools.deploy_common import build_stage_model
    from hat.tools.export_hbir import deployed_graph_paths

    model = build_stage_model(config, "int_infer_predictor")
    if not supports_graph_alignment(model):
        raise ToolError(f"{config.path}: the sequential infer task needs a tracker model")
    paths = deployed_graph_paths(model, path)
    inputs = config.deploy_inputs()
    graphs = graphs_on_ort(model, paths, inputs, "all")
    raw = task.load_inputs(values)
    size = tuple(inputs["img"].shape[-2:])
    result = task.track(model, raw, graphs, deploy_size=size)
    paths_out = task.save(result, raw, save_path)
    line = task.summary(result)
    print(f"model {path} + {len(paths) - 1} more graph(s) (ORT, deploy size {size[0]}x{size[1]})"
          + (f"; {line}" if line else ""))  # fmt: skip
    for p in paths_out.values():
        print(f"wrote {p}")
    return paths_out


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: (run(build_parser().parse_args(argv)), 0)[1], PROG)


if __name__ == "__main__":
    main()
