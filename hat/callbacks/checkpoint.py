"""Save checkpoints atomically: ``last`` (to resume), ``epoch-NNNN`` and ``best``.

Files (``prefix`` is ``name_prefix``, or ``"{stage}-"`` when ``name_prefix`` is empty, where the
stage is the tool's ``--stage`` / ``HAT_TRAINING_STEP``, default ``float``)::

    {save_dir}/{prefix}checkpoint-last.pth.tar        every save
    {save_dir}/{prefix}checkpoint-epoch-0003.pth.tar  epoch saves (interval_by="epoch")
    {save_dir}/{prefix}checkpoint-best.pth.tar        when the monitored metric improves (every
                                                      save with ``last_is_best``)

The state is collected on every rank (RNG states are gathered) and written by rank 0 only, via a
temp file in ``save_dir`` and ``os.replace``: a crash leaves the previous file intact. The
content is described in :mod:`hat.engine.train_state`. With ``interval_by="step"`` the ``last``
file is refreshed every ``save_interval`` steps, which makes mid-epoch resume possible; with
``interval_by=None`` the only save is the one at the end of the loop.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

from hat.engine.callback import CallbackMixin
from hat.engine.train_state import collect_training_state
from hat.registry import OBJECT_REGISTRY
from hat.utils.checkpoint import checkpoint_path, save_checkpoint
from hat.utils.distributed import is_main_process
from hat.utils.file_io import atomic_copy, atomic_write
from hat.utils.run_context import current_stage

__all__ = ["Checkpoint"]

logger = logging.getLogger(__name__)


@OBJECT_REGISTRY.register
class Checkpoint(CallbackMixin):
    """Write checkpoints (see module docstring).

    Args:
        save_dir: output folder (created).
        name_prefix: file name prefix; ``""`` means ``"{stage}-"``.
        save_interval, interval_by: save every that many epochs or steps; ``interval_by=None``:
            no periodic saves (only ``save_on_train_end``).
        save_on_train_end: save ``last`` when training ends (if not just saved).
        keep_epoch_files: also keep ``epoch-NNNN`` copies at epoch saves.
        monitor_metric_key: validation metric deciding ``best`` (None: no best file).
        mode: ``"min"`` or ``"max"``: which direction is better.
        strict_match: the key must equal a metric name (else: first name containing it).
        best_refer_metric: a metric object to read instead of the validation results.
        save_hash: also write ``<file>.sha256`` next to each file.
        last_is_best: no metric decides the best: every save also writes ``best`` (for stages
            whose result is the final model, e.g. calibration).
    """

    def __init__(
        self,
        save_dir: str,
        name_prefix: str = "",
        save_interval: int = 1,
        interval_by: str | None = "epoch",
        save_on_train_end: bool = True,
        keep_epoch_files: bool = True,
        monitor_metric_key: str | None = None,
        mode: str = "min",
        strict_match: bool = False,
        best_refer_metric: Any = None,
        save_hash: bool = False,
        last_is_best: bool = False,
    ) -> None:
        if interval_by not in ("epoch", "step", None):
            raise ValueError(f"interval_by must be 'epoch', 'step' or None, got {interval_by!r}")
        if last_is_best and (monitor_metric_key is not None or best_refer_metric is not None):
            raise ValueError(
                "last_is_best cannot be combined with monitor_metric_key/best_refer_metric "
                "(either a metric or every save decides the best file)"
            )
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if save_interval < 1:
            raise ValueError(f"save_interval must be >= 1, got {save_interval}")
        self.save_dir = save_dir
        self.name_prefix = name_prefix
        self.save_interval = save_interval
        self.interval_by = interval_by
        self.save_on_train_end = save_on_train_end
        self.keep_epoch_files = keep_epoch_files
        self.monitor_metric_key = monitor_metric_key
        self.mode = mode
        self.strict_match = strict_match
        self.best_refer_metric = best_refer_metric
        self.save_hash = save_hash
        self.last_is_best = last_is_best
        self.best_value: float | None = None
        self._seen_results_step: int | None = None
        self._saved_at_step: int | None = None
        self._warned_missing = False

    # Paths -----------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        return self.name_prefix or f"{current_stage()}-"

    def path_of(self, kind: str) -> str:
        return checkpoint_path(self.save_dir, self.prefix, kind)

    @property
    def last_path(self) -> str:
        return self.path_of("last")

    @property
    def best_path(self) -> str:
        return self.path_of("best")

    # Events ----------------------------------------------------------------------------------
    def on_step_end(self, loop: Any = None, global_step_id: int = 0, **kwargs: Any) -> None:
        periodic = self.interval_by == "step" and (global_step_id + 1) % self.save_interval == 0
        improved = self._improved(loop, read_refer_metric=False)
        if periodic or improved:
            self._save(loop, extra=[], best=improved)

    def on_epoch_end(self, loop: Any = None, epoch_id: int = 0, **kwargs: Any) -> None:
        periodic = self.interval_by == "epoch" and (epoch_id + 1) % self.save_interval == 0
        improved = self._improved(loop)
        if periodic or improved:
            extra = [f"epoch-{epoch_id:04d}"] if periodic and self.keep_epoch_files else []
            self._save(loop, extra=extra, best=improved)

    def on_loop_end(self, loop: Any = None, **kwargs: Any) -> None:
        improved = self._improved(loop)
        at_end = self.save_on_train_end and self._saved_at_step != loop.global_steps_done()
        if at_end or improved:
            self._save(loop, extra=[], best=improved)

    # Saving ----------------------------------------------------------------------------------
    def _save(self, loop: Any, extra: list[str], best: bool) -> None:
        best = best or self.last_is_best
        state = collect_training_state(loop)  # collective: every rank
        self._saved_at_step = loop.global_steps_done()
        if not is_main_process():
            return
        save_checkpoint(state, self.last_path)
        written = [self.last_path]
        for kind in extra + (["best"] if best else []):
            atomic_copy(self.last_path, self.path_of(kind))
            written.append(self.path_of(kind))
        if self.save_hash:
            for path in written:
                self._write_hash(path)
        logger.info("saved checkpoint %s", ", ".join(os.path.basename(p) for p in written))

    @staticmethod
    def _write_hash(path: str) -> None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        text = f"{digest.hexdigest()}  {os.path.basename(path)}\n".encode()
        atomic_write(path + ".sha256", lambda f: f.write(text))

    # Best model ------------------------------------------------------------------------------
    def _improved(self, loop: Any, read_refer_metric: bool = True) -> bool:
        """Whether fresh validation results beat the best so far (updates the best).

        ``best_refer_metric`` (a collective ``get``) is read at epoch and loop ends only.
        """
        if self.monitor_metric_key is None and self.best_refer_metric is None:
            return False
        if self.best_refer_metric is not None:
            if not read_refer_metric:
                return False
            results = self.best_refer_metric.get_dict()
        else:
            step = getattr(loop, "val_results_step", None)
            if step is None or step == self._seen_results_step:
                return False
            self._seen_results_step = step
            results = loop.val_results
        value = self._pick(results)
        if value is None:
            return False
        better = (
            self.best_value is None
            or (self.mode == "min" and value < self.best_value)
            or (self.mode == "max" and value > self.best_value)
        )
        if better:
            name = self.monitor_metric_key or "metric"
            logger.info("new best %s=%.6g (was %s)", name, value, self.best_value)
            self.best_value = value
        return better

    def _pick(self, results: dict[str, float]) -> float | None:
        key = self.monitor_metric_key
        if key is None:
            return next(iter(results.values()), None)
        if key in results:
            return results[key]
        if not self.strict_match:
            for name, value in results.items():
                if key in name:
                    return value
        if not self._warned_missing:
            self._warned_missing = True
            logger.warning(
                "Checkpoint: monitor_metric_key %r is not among the validation metrics %s; "
                "no best checkpoint is kept",
                key,
                sorted(results),
            )
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"best_value": self.best_value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_value = state.get("best_value")
