"""``MotrQim``: the deployed query interaction module of MOTR, the second graph of the tracker.

Between two frames the board runs the base model (:meth:`Motr.deploy_forward`), the runtime
tracker (post-processing) and then this graph on the fixed track slots::

    query_pos (1, S, 2d), output_embedding (1, S, d), mask_query (1, S)
    -> track_query_pos (1, S, 2d): the next frame's track queries

The next frame's reference points of the tracks, ``inverse_sigmoid`` of their predicted box
centres, are computed by the post-processing that fills the slots (plain host code, the same
for the integer model and the deployed one), so the graph needs no inverse-sigmoid table.

Its weights are the tracker's ``track_embed.*`` (the attribute has the same name, so a ``Motr``
checkpoint loads into it with the other keys ignored); quantized, the QIM's own stubs and
observers are ``track_embed.*`` too, so a calibration or QAT checkpoint of ``Motr`` gives this
graph the very scales the tracker used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["MotrQim"]

_INPUTS = ("query_pos", "output_embedding", "mask_query")


@OBJECT_REGISTRY.register
class MotrQim(nn.Module):
    """Wraps a :class:`~hat.models.task_modules.motr.qim.QueryInteractionModule` for export.

    Args:
        track_embed: the query interaction module (built, or a config dict built by the
            registry before this).
    """

    def __init__(self, track_embed: nn.Module) -> None:
        super().__init__()
        self.track_embed = track_embed

    def forward(self, data: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        missing = [k for k in _INPUTS if k not in data]
        if missing:
            raise KeyError(f"MotrQim: inputs {missing} missing (expects {list(_INPUTS)})")
        query_pos = self.track_embed.track_query_pos(
            data["query_pos"], data["output_embedding"], data["mask_query"]
        )
        return {"track_query_pos": query_pos}

    def deploy_output_lsb(self, scales: Mapping[str, float]) -> list[float | None]:
        """The LSB of ``track_query_pos`` (the scale entering the QIM's DeQuantStub)."""
        return [scales.get("track_embed.out_dequant")]

    def fuse_model(self) -> None:
        """Nothing to fuse (Linear layers, LayerNorms, attention)."""

    def set_qconfig(self) -> None:
        """HAT's default qconfig on the whole graph."""
        from hat.quantization import default_set_qconfig

        default_set_qconfig(self)
