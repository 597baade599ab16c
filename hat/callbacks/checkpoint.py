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

Consistency of ``last`` and ``best`` under kills: one save serializes the state once and writes
``best`` (when it improved), then ``epoch-NNNN``, then ``last``. The state records the best
metric and the step it was reached at (``best_value``, ``best_step``), and ``best`` describes
itself the same way, so after a kill at any point:

* before ``best`` was replaced: both files are the previous ones;
* between ``best`` and ``last``: ``best`` is newer than ``last``; the resumed run adopts it
  (its metric is the one to beat) and a deterministic replay reaches the same best again;
* a ``best`` missing, corrupt or older than the recorded ``best_step`` (deleted, bit rot, or
  written by an older version that saved ``last`` first) is rewritten from the resumed
  checkpoint when that one is the best state; otherwise its weights are gone, a warning says
  so and the best is decided again from the next validation.

At loop begin (rank 0) temp files of interrupted saves are removed (only those whose writing
process is dead, see :func:`hat.utils.file_io.remove_stale_temp_files`).

Divergence: a save raises :class:`~hat.engine.finite_checks.NonFiniteWeightsError` instead of
writing NaN/inf parameters (the files on disk stay the last finite ones), and a NaN/inf
validation metric never becomes the best.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from typing import Any

from hat.engine.callback import CallbackMixin
from hat.engine.finite_checks import NonFiniteWeightsError, non_finite_parameters
from hat.engine.train_state import callback_state_keys, collect_training_state
from hat.registry import OBJECT_REGISTRY
from hat.utils.checkpoint import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    serialize_checkpoint,
    summarise_keys,
    write_checkpoint_bytes,
)
from hat.utils.distributed import (
    broadcast_object,
    get_world_size,
    is_dist_initialized,
    is_main_process,
    unwrap_model,
)
from hat.utils.file_io import atomic_write, remove_stale_temp_files
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
        self.best_step: int | None = None  # global steps done when best_value was reached
        self._restored = False
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
    def on_loop_begin(self, loop: Any = None, **kwargs: Any) -> None:
        best = (self.best_value, self.best_step)
        if is_main_process():
            self._remove_stale_temp_files()
            if self._restored:
                best = self._reconcile_best(loop)
        if is_dist_initialized() and get_world_size() > 1:
            best = broadcast_object(best)  # every rank must agree on when a best is saved
        self.best_value, self.best_step = best
        if self._improved(loop, read_refer_metric=False):
            # validated before the first step (``Validation(val_on_train_begin)``): the
            # starting point is the best to beat, and the file to hand on if nothing beats it
            self._save(loop, extra=[], best=True)

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
        self._refuse_non_finite(loop)
        state = collect_training_state(loop)  # collective: every rank
        self._saved_at_step = loop.global_steps_done()
        if not is_main_process():
            return
        payload = serialize_checkpoint(state)
        # best first, last last: a kill in between leaves a best newer than last, never the
        # reverse (see module docstring)
        kinds = (["best"] if best else []) + extra + ["last"]
        written = []
        for kind in kinds:
            path = self.path_of(kind)
            write_checkpoint_bytes(payload, path)
            if self.save_hash:
                self._write_hash(path, payload)
            written.append(path)
        logger.info("saved checkpoint %s", ", ".join(os.path.basename(p) for p in written))

    def _refuse_non_finite(self, loop: Any) -> None:
        check = getattr(loop, "check_finite_loss", None)
        if check is not None:
            check()  # a pending non-finite loss gives the clearer message
        bad = non_finite_parameters(unwrap_model(loop.model))
        if bad:
            previous = (
                f"the last save was at global step {self._saved_at_step}"
                if self._saved_at_step is not None
                else "nothing was saved by this run"
            )
            raise NonFiniteWeightsError(
                f"refusing to save {self.last_path} at global step {loop.global_steps_done()}: "
                f"{len(bad)} parameter tensors hold NaN/inf ({summarise_keys(bad, 3)}); the "
                f"files on disk are kept ({previous}); training diverged: lower the learning "
                "rate or check the data, then --resume"
            )

    @staticmethod
    def _write_hash(path: str, payload: bytes) -> None:
        digest = hashlib.sha256(payload).hexdigest()
        text = f"{digest}  {os.path.basename(path)}\n".encode()
        atomic_write(path + ".sha256", lambda f: f.write(text))

    # Resume: temp files, best file -------------------------------------------------------------
    def _remove_stale_temp_files(self) -> None:
        removed, foreign = remove_stale_temp_files(self.save_dir)
        if removed:
            logger.info(
                "removed %d temp files of interrupted saves in %s: %s",
                len(removed),
                self.save_dir,
                summarise_keys(removed, 3),
            )
        if foreign:
            logger.warning(
                "%s holds %d temp files written on other hosts (not removed: their writers "
                "cannot be checked from here): %s",
                self.save_dir,
                len(foreign),
                summarise_keys(foreign, 3),
            )

    def _reconcile_best(self, loop: Any) -> tuple[float | None, int | None]:
        """Make ``best`` agree with the resumed state (see module docstring)."""
        keep = (self.best_value, self.best_step)
        if self.monitor_metric_key is None and self.best_refer_metric is None:
            if not self.last_is_best:
                return keep
        resumed = getattr(loop, "resumed_from", None)
        step = loop.global_steps_done()
        found = self._read_best(loop)
        if self.last_is_best:
            if isinstance(found, tuple) and found[0] >= step:
                return keep
            return self._rewrite_best(resumed, found) if resumed else keep
        if isinstance(found, tuple):
            file_step, file_value, file_best_step = found
            if self.best_step is not None and file_step == self.best_step:
                return keep
            if self.best_step is None or file_step > self.best_step:
                if file_value is not None and file_best_step == file_step:
                    logger.info(
                        "%s (step %d) is newer than the resumed state (a save was interrupted "
                        "between best and last): keeping it, %s=%.6g to beat",
                        self.best_path, file_step, self._metric_name(), file_value,
                    )  # fmt: skip
                    return file_value, file_step
                return keep
            problem = f"older (step {file_step}) than the recorded best (step {self.best_step})"
        else:
            problem = found
        if self.best_value is None:
            if problem != "missing":
                logger.warning("%s is %s; it is replaced at the next best", self.best_path, problem)
            return keep
        if resumed and self._resumed_state_is_best(resumed, step):
            return self._rewrite_best(resumed, problem)
        logger.warning(
            "%s (%s=%.6g at step %s) is %s and its weights are not in %s: the best is decided "
            "again from the next validation",
            self.best_path, self._metric_name(), self.best_value, self.best_step, problem,
            resumed,
        )  # fmt: skip
        return None, None

    def _read_best(self, loop: Any) -> tuple[int, float | None, int | None] | str:
        """``(step, best_value, best_step)`` recorded in the best file, or what is wrong."""
        if not os.path.isfile(self.best_path):
            return "missing"
        try:
            state = load_checkpoint(self.best_path)
        except CheckpointError as exc:
            return f"unreadable ({exc})"
        keys = dict(zip(map(id, loop.callbacks), callback_state_keys(loop.callbacks)))
        own = (state.get("callbacks") or {}).get(keys.get(id(self), ""), {})
        value = own.get("best_value")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            value = None
        return int(state.get("step", -1)), value, own.get("best_step")

    def _resumed_state_is_best(self, resumed: str, step: int) -> bool:
        if self.best_step is not None:
            return self.best_step == step
        try:  # a file of an older version: no best_step, compare the metric it recorded
            metric = (load_checkpoint(resumed).get("meta") or {}).get("metric") or {}
        except CheckpointError:
            return False
        return bool(metric) and self._pick(metric) == self.best_value

    def _rewrite_best(self, resumed: str, problem: Any) -> tuple[float | None, int | None]:
        with open(resumed, "rb") as f:
            payload = f.read()  # verified when the loop loaded it
        write_checkpoint_bytes(payload, self.best_path)
        what = problem if isinstance(problem, str) else "older than the resumed state"
        logger.warning("%s was %s: rewritten from %s", self.best_path, what, resumed)
        return self.best_value, self.best_step

    def _metric_name(self) -> str:
        return self.monitor_metric_key or "metric"

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
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            logger.warning(
                "Checkpoint: %s=%s is not finite: it cannot become the best (kept: %s)",
                self._metric_name(),
                value,
                self.best_value,
            )
            return False
        better = (
            self.best_value is None
            or (self.mode == "min" and value < self.best_value)
            or (self.mode == "max" and value > self.best_value)
        )
        if better:
            logger.info("new best %s=%.6g (was %s)", self._metric_name(), value, self.best_value)
            self.best_value = float(value)
            self.best_step = loop.global_steps_done()
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
        return {"best_value": self.best_value, "best_step": self.best_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        value = state.get("best_value")
        if value is not None and not math.isfinite(value):
            name = self._metric_name()
            logger.warning("Checkpoint: the resumed best %s=%s is not finite: dropped", name, value)
            value, state = None, {}
        self.best_value = value
        self.best_step = state.get("best_step")
        self._restored = True
