"""Multi-object tracking inference adapter: a folder of frames in, tracked boxes with ids and
trails out (PNG frames, an animated GIF and a MOTChallenge result file).

Unlike the single-shot adapters, a tracker keeps state from frame to frame, so the tools hand
it the whole sequence (:meth:`MotrInfer.track`): the model's own evaluation loop runs frame by
frame, with its own graphs (``tools/infer.py``) or with the exported graphs on ONNX Runtime
(``tools/infer_hbir.py``: the base model and the query interaction module, the host code in
between unchanged).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from hat.infer.base import InferInputError, InferTask, read_rgb
from hat.registry import OBJECT_REGISTRY

__all__ = ["MotrInfer", "list_frames"]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_frames(folder: str) -> list[str]:
    """The image files of ``folder`` in name order (a MOT sequence's ``img1``: 000001.jpg...)."""
    if not os.path.isdir(folder):
        raise InferInputError(f"--model-inputs frames: not a folder: {folder}")
    paths = sorted(
        os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(_IMAGE_SUFFIXES)
    )
    if not paths:
        raise InferInputError(f"--model-inputs frames: no .jpg/.png images in {folder}")
    return paths


@OBJECT_REGISTRY.register
class MotrInfer(InferTask):
    """``--model-inputs frames:FOLDER[,max_frames:N]`` -> the tracks of the sequence.

    Writes ``<save_path>/<name>/000001.png ...`` (boxes coloured by track id, the id above each
    box, a trail of the last ``trail_length`` positions), ``<name>.gif`` and ``<name>.txt``
    (MOTChallenge rows ``frame, id, left, top, width, height, score, -1, -1, -1`` in the
    original image's pixels). ``<name>`` is the sequence name: the folder's, or its parent's
    when the folder is a MOT ``img1``.

    Args:
        transforms: the validation clip transforms (``SeqResize``, ``SeqToTensor``, ...), as
            the dataset applies them; each frame goes through them as a clip of one frame.
        trail_length: frames a trail spans.
        fps: frame rate of the GIF.
        max_side: longest side of the pictures (None: the frames' size).
    """

    input_names = ("frames",)
    optional_names = ("max_frames",)
    sequential = True

    def __init__(
        self,
        transforms: Sequence[Any] | Any = None,
        trail_length: int = 10,
        fps: float = 10.0,
        max_side: int | None = 960,
    ) -> None:
        from hat.registry import build_from_registry

        specs = (
            transforms
            if isinstance(transforms, (list, tuple))
            else ([] if transforms is None else [transforms])
        )
        self.transforms = [
            build_from_registry(t, f"infer_cfg.transforms.{i}") if isinstance(t, dict) else t
            for i, t in enumerate(specs)
        ]
        self.trail_length = int(trail_length)
        self.fps = float(fps)
        self.max_side = max_side

    def load_inputs(self, values: dict[str, str]) -> dict[str, Any]:
        folder = os.path.normpath(values["frames"])
        paths = list_frames(folder)
        if "max_frames" in values:
            try:
                limit = int(values["max_frames"])
            except ValueError:
                raise InferInputError(
                    f"--model-inputs max_frames: expected an integer, got {values['max_frames']!r}"
                ) from None
            if limit < 1:
                raise InferInputError(f"--model-inputs max_frames must be >= 1, got {limit}")
            paths = paths[:limit]
        base = os.path.basename(folder)
        name = os.path.basename(os.path.dirname(folder)) if base == "img1" else base
        return {"paths": paths, "name": name or "sequence"}

    def frame_batches(self, raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """One collated batch per frame (``{"frames": [frame]}``), in order."""
        from hat.data.collates import collate_mot_clips

        for index, path in enumerate(raw["paths"], start=1):
            img = read_rgb(path)
            frame = {"img": img, "seq_name": raw["name"], "frame_id": index,
                     "ori_shape": np.array(img.shape[:2], np.int64)}  # fmt: skip
            clip: Any = {"frames": [frame]}
            for t in self.transforms:
                clip = t(clip)
            yield collate_mot_clips([clip])

    def track(
        self,
        model: torch.nn.Module,
        raw: dict[str, Any],
        graphs: Any = None,
        deploy_size: tuple[int, int] | None = None,
    ) -> list[dict[str, Any]]:
        """Track the whole sequence with ``model.track`` (``graphs``: the deployed graphs,
        default the model's own); ``deploy_size`` checks every frame against the exported
        graph's static input size."""
        model.reset_tracks()
        results: list[dict[str, Any]] = []
        with torch.no_grad():
            for batch in self.frame_batches(raw):
                size = tuple(batch["frames"][0]["img"].shape[-2:])
                if deploy_size is not None and size != tuple(deploy_size):
                    raise InferInputError(
                        f"frames of {raw['name']} become {size[0]}x{size[1]} after the "
                        f"validation transforms; the exported model takes "
                        f"{deploy_size[0]}x{deploy_size[1]} (frames of another aspect ratio)"
                    )
                results.extend(model.track(batch, graphs))
        return results

    def postprocess(self, outputs: Any, ctx: dict[str, Any]) -> Any:
        return outputs

    def save(self, result: Any, raw: dict[str, Any], save_path: str) -> dict[str, str]:
        from hat.visualize.tracks import TrackFrame, save_track_visualization

        os.makedirs(save_path, exist_ok=True)
        name = raw["name"]
        txt = os.path.join(save_path, f"{name}.txt")
        with open(txt + ".tmp", "w", encoding="utf-8") as f:
            for r in result:
                boxes = np.asarray(r["boxes"], np.float64).reshape(-1, 4)
                for box, tid, score in zip(boxes, np.asarray(r["ids"]).reshape(-1),
                                           np.asarray(r["scores"]).reshape(-1)):  # fmt: skip
                    x1, y1, x2, y2 = (float(v) for v in box)
                    row = (int(r["frame_id"]), int(tid), x1, y1, x2 - x1, y2 - y1, float(score))
                    f.write("{},{},{:.2f},{:.2f},{:.2f},{:.2f},{:.4f},-1,-1,-1\n".format(*row))
        os.replace(txt + ".tmp", txt)
        frames = (
            TrackFrame(
                read_rgb(path),
                np.asarray(r["boxes"]).reshape(-1, 4),
                np.asarray(r["ids"]).reshape(-1),
            )  # fmt: skip
            for path, r in zip(raw["paths"], result, strict=True)
        )
        vis = save_track_visualization(
            frames, save_path, name, self.fps, self.trail_length, max_side=self.max_side
        )
        return {"tracks": txt, "gif": str(vis["gif"]), "frames": os.path.join(save_path, name)}

    def summary(self, result: Any) -> str:
        ids = {int(i) for r in result for i in np.asarray(r["ids"]).reshape(-1)}
        boxes = sum(int(np.asarray(r["ids"]).size) for r in result)
        per_frame = boxes / max(len(result), 1)
        return f"{len(result)} frames, {len(ids)} track ids, {per_frame:.1f} boxes per frame"
