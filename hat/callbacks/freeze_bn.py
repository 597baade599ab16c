"""Keep BatchNorm running statistics frozen during training."""

from __future__ import annotations

from typing import Any

from torch import nn

from hat.engine.callback import CallbackMixin
from hat.registry import OBJECT_REGISTRY

__all__ = ["FreezeBNStatistics"]


@OBJECT_REGISTRY.register
class FreezeBNStatistics(CallbackMixin):
    """Put every BatchNorm layer in eval mode at each epoch begin (after the loop's
    ``model.train()``), so running mean/var stop updating; affine weights still train.

    In a QAT model the fused conv-BN modules train on the folded running statistics too
    (``hat.quantization.freeze_bn_stats``: the integer model's arithmetic, no batch
    statistics, whose gradients explode over a deep net at batch size 1)."""

    def on_epoch_begin(self, model: nn.Module | None = None, **kwargs: Any) -> None:
        if model is None:
            return
        from hat.quantization.qat.conv import freeze_bn_stats

        freeze_bn_stats(model)
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
