"""Weight initialisation helpers."""

from __future__ import annotations

from torch import nn

__all__ = ["kaiming_init_convs"]


def kaiming_init_convs(module: nn.Module) -> None:
    """Kaiming-normal (fan_in, relu) for every conv / transposed conv, zero bias; BN to (1, 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
