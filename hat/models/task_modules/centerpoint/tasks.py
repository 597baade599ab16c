"""Task groups of a CenterPoint model: which classes each heatmap head predicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["TaskSpec", "parse_tasks"]


@dataclass(frozen=True)
class TaskSpec:
    """One task group: its ``name``, its ``class_names`` and their indexes into the model's
    ``class_names`` (``class_ids``; empty when the model's class list is not known)."""

    name: str
    class_names: tuple[str, ...]
    class_ids: tuple[int, ...]

    @property
    def num_class(self) -> int:
        return len(self.class_names)


def parse_tasks(
    tasks: Sequence[Mapping], class_names: Sequence[str] | None = None
) -> list[TaskSpec]:
    """Checks HAT's ``tasks`` list (``dict(name=..., num_class=..., class_names=[...])`` per
    group; ``num_class`` optional) and returns one :class:`TaskSpec` per group.

    With ``class_names`` every task class must be one of them (its index becomes the label).
    """
    if not isinstance(tasks, Sequence) or isinstance(tasks, (str, bytes)) or not tasks:
        raise ValueError(f"tasks must be a non-empty list of dicts, got {tasks!r}")
    known = list(class_names) if class_names is not None else None
    specs, seen = [], set()
    for t, task in enumerate(tasks):
        if not isinstance(task, Mapping) or "class_names" not in task:
            raise ValueError(f"tasks[{t}] must be a dict with 'class_names', got {task!r}")
        names = tuple(str(n) for n in task["class_names"])
        if not names:
            raise ValueError(f"tasks[{t}]['class_names'] is empty")
        n = task.get("num_class", len(names))
        if int(n) != len(names):
            raise ValueError(
                f"tasks[{t}]: num_class={n} but class_names has {len(names)} entries {names}"
            )
        ids: tuple[int, ...] = ()
        if known is not None:
            missing = [c for c in names if c not in known]
            if missing:
                raise ValueError(f"tasks[{t}]: classes {missing} are not in class_names {known}")
            ids = tuple(known.index(c) for c in names)
            dup = seen.intersection(ids)
            if dup:
                raise ValueError(
                    f"tasks[{t}]: classes {[known[i] for i in sorted(dup)]} already belong to "
                    "an earlier task"
                )
            seen.update(ids)
        specs.append(TaskSpec(str(task.get("name", f"task{t}")), names, ids))
    return specs
