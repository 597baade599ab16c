"""``TrackInstances``: the per-frame state of MOTR's queries (detect slots and live tracks).

Every field is a tensor whose first dimension is the number of queries ``N``; indexing with a
bool mask or index tensor selects rows of every field, ``TrackInstances.cat`` stacks sets.

Fields used across the model (MOTR's names):

* ``query_pos`` ``(N, 2 * d)``: ``[:, :d]`` positional embedding, ``[:, d:]`` query content;
* ``ref_pts`` ``(N, 2)``: reference points as logits (``sigmoid`` gives normalised ``cx, cy``);
* ``output_embedding`` ``(N, d)``: the decoder's last hidden state of the query;
* ``pred_logits`` ``(N, num_classes)``, ``pred_boxes`` ``(N, 4)`` normalised ``cx, cy, w, h``;
* ``scores`` ``(N,)`` (sigmoid of the class logit), ``track_scores`` ``(N,)``;
* ``obj_idxes`` ``(N,)`` long: the track id (training: the GT identity), ``-1`` if none;
* ``matched_gt_idxes`` ``(N,)`` long: index of the matched GT in the frame, ``-1`` if none;
* ``disappear_time`` ``(N,)`` long: consecutive frames below the keep threshold;
* ``iou`` ``(N,)``: IoU with the matched GT (training).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

__all__ = ["TrackInstances", "empty_track_instances"]


class TrackInstances:
    """A set of ``N`` queries, stored as named tensors of first dimension ``N``."""

    def __init__(self, **fields: torch.Tensor) -> None:
        object.__setattr__(self, "_fields", {})
        for name, value in fields.items():
            self.set(name, value)

    def __len__(self) -> int:
        for value in self._fields.values():
            return int(value.shape[0])
        return 0

    def set(self, name: str, value: torch.Tensor) -> None:
        """Add or replace a field; its first dimension must match the other fields'."""
        only_this = len(self._fields) == 1 and name in self._fields
        if self._fields and not only_this and value.shape[0] != len(self):
            raise ValueError(
                f"TrackInstances field {name!r} has {value.shape[0]} rows, the others {len(self)}"
            )
        self._fields[name] = value

    def __setattr__(self, name: str, value: torch.Tensor) -> None:
        self.set(name, value)

    def __getattr__(self, name: str) -> torch.Tensor:
        fields = object.__getattribute__(self, "_fields")
        if name not in fields:
            raise AttributeError(f"TrackInstances has no field {name!r} (has {sorted(fields)})")
        return fields[name]

    def has(self, name: str) -> bool:
        return name in self._fields

    def fields(self) -> dict[str, torch.Tensor]:
        """The fields, by name (the dict is a copy; the tensors are shared)."""
        return dict(self._fields)

    def __getitem__(self, index: torch.Tensor | slice | int) -> TrackInstances:
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return TrackInstances(**{k: v[index] for k, v in self._fields.items()})

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def to(self, device: torch.device | str) -> TrackInstances:
        return TrackInstances(**{k: v.to(device) for k, v in self._fields.items()})

    def detach(self) -> TrackInstances:
        """The same fields, cut from the autograd graph (the state carried to the next frame)."""
        return TrackInstances(**{k: v.detach() for k, v in self._fields.items()})

    @staticmethod
    def cat(parts: Sequence[TrackInstances]) -> TrackInstances:
        """Stack query sets that share the same field names."""
        parts = [p for p in parts if p is not None]
        if not parts:
            return TrackInstances()
        names = list(parts[0]._fields)
        for p in parts[1:]:
            if sorted(p._fields) != sorted(names):
                raise ValueError(
                    f"TrackInstances.cat: fields differ: {sorted(names)} vs {sorted(p._fields)}"
                )
        return TrackInstances(**{k: torch.cat([p._fields[k] for p in parts]) for k in names})

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self._fields.items())
        return f"TrackInstances(n={len(self)}, {shapes})"


def empty_track_instances(
    query_pos: torch.Tensor, ref_pts: torch.Tensor, num_classes: int
) -> TrackInstances:
    """Fresh detect queries: learned ``query_pos (N, 2d)`` and ``ref_pts (N, 2)`` logits, no
    identities, zero scores and predictions (MOTR's ``_generate_empty_tracks``)."""
    n, two_d = query_pos.shape
    device = query_pos.device
    zeros = torch.zeros(n, device=device)
    return TrackInstances(
        query_pos=query_pos,
        ref_pts=ref_pts,
        output_embedding=torch.zeros(n, two_d // 2, device=device),
        pred_logits=torch.zeros(n, num_classes, device=device),
        pred_boxes=torch.zeros(n, 4, device=device),
        scores=zeros.clone(),
        track_scores=zeros.clone(),
        iou=zeros.clone(),
        obj_idxes=torch.full((n,), -1, dtype=torch.long, device=device),
        matched_gt_idxes=torch.full((n,), -1, dtype=torch.long, device=device),
        disappear_time=torch.zeros(n, dtype=torch.long, device=device),
    )
