"""``MotrQim``: the deployed query interaction module of MOTR, the second graph of the tracker.

Between two frames the board runs the base model (:meth:`Motr.deploy_forward`), the runtime
tracker (post-processing) and then this graph on the fixed track slots::

    query_pos (1, S, 2d), output_embedding (1, S, d), pred_boxes (1, S, 4), mask_query (1, S)
    -> query_pos (1, S, 2d) of the next frame's track queries, ref_pts (1, S, 2) logits

Its weights are the tracker's ``track_embed.*`` (the attribute has the same name, so a ``Motr``
checkpoint loads into it with the other keys ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["MotrQim"]

_INPUTS = ("query_pos", "output_embedding", "pred_boxes", "mask_query")


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
        query_pos, ref_pts = self.track_embed.update_track_embedding(
            data["query_pos"], data["output_embedding"], data["pred_boxes"],
            data["mask_query"] > 0.5,
        )  # fmt: skip
        return {"query_pos": query_pos, "ref_pts": ref_pts}
