"""Batch processors (accumulation, AMP, loss collection) and the optimizer build hook."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hat.engine.batch_processor import BasicBatchProcessor, MultiBatchProcessor
from hat.engine.optimizer_builder import OptimizerBuilder, param_groups
from hat.registry import build_from_registry


class Regressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(4, 1)
        self.norm = nn.LayerNorm(4)

    def forward(self, data):
        pred = self.lin(self.norm(data["x"])).squeeze(-1)
        return {"losses": {"mse": ((pred - data["y"]) ** 2).mean()}, "pred": pred}


def batch(n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(n, 4, generator=g), "y": torch.randn(n, generator=g)}


def test_grad_accumulation_equals_one_big_batch():
    big = batch(4)
    halves = [{k: v[:2] for k, v in big.items()}, {k: v[2:] for k, v in big.items()}]
    m1, m2 = Regressor(), Regressor()
    o1 = torch.optim.SGD(m1.parameters(), lr=0.1)
    o2 = torch.optim.SGD(m2.parameters(), lr=0.1)
    BasicBatchProcessor()(0, big, m1, "cpu", o1)
    acc = BasicBatchProcessor(grad_accumulation_steps=2)
    acc(0, halves[0], m2, "cpu", o2)
    assert torch.equal(m2.lin.weight, Regressor().lin.weight)  # no step after the first half
    acc(1, halves[1], m2, "cpu", o2)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p1, p2)


def test_transforms_callbacks_and_loss_sum():
    events = []
    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def double_y(b):
        return {**b, "y": b["y"] * 2}

    def losses(outputs):
        return [outputs["losses"]["mse"], {"zero": outputs["pred"].sum() * 0}]

    proc = MultiBatchProcessor(batch_transforms=[double_y], loss_collector=losses)

    def hook(name):
        return lambda **kw: events.append((name, sorted(kw)))

    data = batch()
    outs = proc(
        0, data, model, "cpu", opt,
        batch_begin_callback=hook("batch_begin"), forward_begin_callback=hook("forward_begin"),
        forward_end_callback=hook("forward_end"), backward_begin_callback=hook("backward_begin"),
        backward_end_callback=hook("backward_end"), batch_end_callback=hook("batch_end"),
        optimizer_step_begin_callback=hook("optimizer_step_begin"),
    )  # fmt: skip
    assert [e[0] for e in events] == [
        "batch_begin", "forward_begin", "forward_end", "backward_begin", "backward_end",
        "batch_end", "optimizer_step_begin",
    ]  # fmt: skip
    assert ("backward_begin", ["batch", "loss", "model_outs"]) in events
    expected = ((outs["pred"] - data["y"] * 2) ** 2).mean()
    torch.testing.assert_close(proc.last_loss, expected.detach())  # transform ran, losses summed


def test_multi_batch_processor_runs_each_task_batch():
    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    outs = MultiBatchProcessor()(0, [batch(seed=1), batch(seed=2)], model, "cpu", opt)
    assert isinstance(outs, list) and len(outs) == 2


def test_bf16_autocast_on_cpu_trains():
    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    proc = BasicBatchProcessor(enable_amp=True)
    linear_out_dtypes = []
    model.lin.register_forward_hook(lambda mod, args, out: linear_out_dtypes.append(out.dtype))
    before = model.lin.weight.clone()
    data = batch()
    proc(0, data, model, "cpu", opt)
    assert linear_out_dtypes == [torch.bfloat16]  # the linear layer ran under bf16 autocast
    assert model.lin.weight.dtype == torch.float32  # master weights stay fp32
    assert proc.grad_scaler is None  # no GradScaler for bf16
    assert not torch.equal(before, model.lin.weight)
    # The loss is the one of a bf16-autocast forward, which is not the fp32 loss.
    with torch.no_grad():
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            autocast_loss = Regressor()(data)["losses"]["mse"]
        fp32_loss = Regressor()(data)["losses"]["mse"]
    assert torch.equal(proc.last_loss, autocast_loss)
    assert not torch.equal(proc.last_loss, fp32_loss)


def test_amp_dtype_float16_on_cpu_and_no_amp_stays_fp32():
    dtypes = {}
    for name, proc in (
        ("fp16", BasicBatchProcessor(need_grad_update=False, enable_amp=True, amp_dtype="float16")),
        ("off", BasicBatchProcessor(need_grad_update=False)),
    ):
        model = Regressor().eval()
        seen = []
        model.lin.register_forward_hook(lambda mod, args, out, seen=seen: seen.append(out.dtype))
        with torch.no_grad():
            proc(0, batch(), model, "cpu")
        dtypes[name] = seen
    assert dtypes == {"fp16": [torch.float16], "off": [torch.float32]}


def test_prediction_processor_only_forwards():
    model = Regressor().eval()
    with torch.no_grad():
        outs = BasicBatchProcessor(need_grad_update=False)(0, batch(), model, "cpu")
    assert "pred" in outs and model.lin.weight.grad is None


def test_optimizer_config_builds_name_substring_groups():
    model = Regressor()
    model.norm.bias.requires_grad_(False)
    builder = build_from_registry(
        dict(
            type=torch.optim.Adam,
            params={"lin": dict(lr=0.5), "weight": dict(weight_decay=4e-4)},
            lr=0.1,
        )
    )
    assert isinstance(builder, OptimizerBuilder)
    opt = builder(model)
    groups = opt.param_groups
    by_group = [[id(p) for p in g["params"]] for g in groups]
    # "lin" comes first: lin.weight and lin.bias go there even though lin.weight contains "weight"
    assert by_group[0] == [id(model.lin.weight), id(model.lin.bias)]
    assert groups[0]["lr"] == 0.5 and groups[0]["weight_decay"] == 0
    assert by_group[1] == [id(model.norm.weight)] and groups[1]["weight_decay"] == 4e-4
    assert groups[1]["lr"] == 0.1
    assert len(groups) == 2  # norm.bias is frozen, so no default group is needed


def test_param_groups_default_group_and_errors():
    model = Regressor()
    groups = param_groups(model, {"weight": {"weight_decay": 1.0}})
    assert len(groups) == 2 and "weight_decay" not in groups[1]
    with pytest.raises(TypeError, match="name substrings"):
        OptimizerBuilder(torch.optim.SGD, params=[1, 2], lr=0.1)
