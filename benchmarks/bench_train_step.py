"""Framework overhead: one training step of ``Trainer`` vs a hand-written PyTorch loop.

Both sides train the same model on the same in-memory batch (a list of references to one
synthetic batch, so no data loading is measured). The framework side runs ``Trainer`` +
``MultiBatchProcessor`` + ``CosLrUpdater`` + ``StatsMonitor`` + ``MetricUpdater(LossShow)``
with logging to a file. Rounds alternate between the two to cancel drift; the reported time
per step is the median over rounds. Goal: ratio <= 1.10.

    python benchmarks/bench_train_step.py [--model conv|pwcnet] [--steps 40] [--rounds 7]
        [--threads N]

On a busy machine use ``--threads 1`` (thread contention swamps the per-step numbers).
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.callbacks import CallbackMixin, CosLrUpdater, MetricUpdater, StatsMonitor  # noqa: E402
from hat.engine import MultiBatchProcessor, Trainer  # noqa: E402
from hat.metrics.loss_show import LossShow  # noqa: E402


class SmallConvNet(nn.Module):
    """A small conv classifier returning ``{"losses": {"ce": ...}}`` like a task module."""

    def __init__(self, channels: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(2 * channels, classes)

    def forward(self, data: dict[str, torch.Tensor]) -> dict:
        logits = self.head(self.features(data["img"]))
        return {"losses": {"ce": F.cross_entropy(logits, data["label"])}, "logits": logits}


def conv_setup(batch_size: int) -> tuple[nn.Module, dict]:
    g = torch.Generator().manual_seed(0)
    batch = {
        "img": torch.randn(batch_size, 3, 64, 64, generator=g),
        "label": torch.randint(0, 10, (batch_size,), generator=g),
    }
    return SmallConvNet(), batch


def pwcnet_setup(batch_size: int) -> tuple[nn.Module, dict]:
    """A tiny PwcNet task from ``hat.models``."""
    from hat.registry import build_from_registry

    channels = [8, 12, 16, 16, 16, 16]
    model = build_from_registry(
        dict(
            type="PwcnetTask",
            backbone=dict(type="PwcNet", out_channels=channels, use_bn=True, bn_kwargs={},
                          pyr_lvls=6, flow_pred_lvl=2, act_type=nn.ReLU()),
            head=dict(type="PwcnetHead", in_channels=channels, bn_kwargs={}, use_bn=True, md=2,
                      use_res=True, use_dense=True, pyr_lvls=6, flow_pred_lvl=2,
                      act_type=nn.ReLU()),
            loss=dict(type="LnNormLoss", norm_order=2, power=1, reduction="mean"),
            loss_weights=[0.005, 0.01, 0.02, 0.08, 0.32],
        )
    )  # fmt: skip
    g = torch.Generator().manual_seed(0)
    img = torch.randn(batch_size, 6, 64, 128, generator=g)
    flow = torch.randn(batch_size, 2, 64, 128, generator=g)
    return model, {"img": img, "gt_flow": flow}


SETUPS = {"conv": conv_setup, "pwcnet": pwcnet_setup}


def loss_collector(outputs: dict) -> dict:
    return outputs["losses"]


def plain_loop(model: nn.Module, batches: list, lr: float) -> float:
    """Seconds per step of the hand-written loop."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    start = time.perf_counter()
    for batch in batches:
        outputs = model(batch)
        loss = sum(outputs["losses"].values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / len(batches)


def framework_loop(model: nn.Module, batches: list, lr: float) -> float:
    """Seconds per step of ``Trainer.fit`` (setup excluded: timed from the first step)."""
    timer = _StepTimer()
    trainer = Trainer(
        model=model,
        data_loader=batches,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9),
        batch_processor=MultiBatchProcessor(need_grad_update=True, loss_collector=loss_collector),
        device="cpu",
        stop_by="epoch",
        num_epochs=1,
        callbacks=[
            timer,
            CosLrUpdater(warmup_len=2, warmup_by="step"),
            StatsMonitor(log_freq=20),
            MetricUpdater(
                metric_update_func=lambda ms, b, o: [m.update(o["losses"]) for m in ms],
                step_log_freq=20,
            ),
        ],
        train_metrics=[LossShow()],
    )
    trainer.fit()
    return (timer.end - timer.start) / len(batches)


class _StepTimer(CallbackMixin):
    """Records the time of the epoch's begin and end (setup excluded)."""

    def on_epoch_begin(self, **kwargs) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, **kwargs) -> None:
        self.end = time.perf_counter()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(SETUPS), default="conv")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    log_dir = tempfile.mkdtemp(prefix="hat_bench_")
    hat_logger = logging.getLogger("hat")
    hat_logger.setLevel(logging.INFO)
    hat_logger.propagate = False
    hat_logger.addHandler(logging.FileHandler(os.path.join(log_dir, "bench.log")))

    setup = SETUPS[args.model]
    try:
        model, batch = setup(args.batch_size)
    except Exception as exc:
        # no fallback to another net: the figures printed below must be those of --model
        raise SystemExit(
            f"bench_train_step: cannot build --model {args.model} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    batches = [batch] * args.steps
    lr = 1e-3
    plain_model, framework_model = model, copy.deepcopy(model)
    plain_loop(plain_model, batches[:5], lr)  # warm up allocator and kernels
    framework_loop(framework_model, batches[:5], lr)

    plain_times, framework_times = [], []
    for _ in range(args.rounds):
        plain_times.append(plain_loop(plain_model, batches, lr))
        framework_times.append(framework_loop(framework_model, batches, lr))
    plain, framework = statistics.median(plain_times), statistics.median(framework_times)
    ratio = framework / plain
    print(f"model={args.model} batch={args.batch_size} steps/round={args.steps} "
          f"rounds={args.rounds} threads={torch.get_num_threads()}")  # fmt: skip
    print(f"plain PyTorch loop : {plain * 1e3:8.3f} ms/step")
    print(f"hat Trainer        : {framework * 1e3:8.3f} ms/step")
    verdict = "OK" if ratio <= 1.10 else "ABOVE GOAL"
    print(f"ratio              : {ratio:8.3f}x  (goal <= 1.10) -> {verdict}")


if __name__ == "__main__":
    main()
