"""Single-process training loop."""

from __future__ import annotations

from hat.engine.loop_base import LoopBase
from hat.registry import OBJECT_REGISTRY

__all__ = ["Trainer"]


@OBJECT_REGISTRY.register
class Trainer(LoopBase):
    """Trains ``model`` in one process; see :class:`hat.engine.loop_base.LoopBase` for the args.

    ``optimizer`` is usually a config dict (``dict(type=torch.optim.Adam, params=..., lr=...)``)
    that becomes a builder; it is called with the prepared model in :meth:`prepare`.
    """

    is_training = True
