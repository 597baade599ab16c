"""Task modules: the per-task heads, targets and decoders of multitask models."""

from hat.models.task_modules import fcn  # noqa: F401

# isort: split
from hat.models.task_modules import centerpoint  # noqa: F401

# isort: split
from hat.models.task_modules import motr  # noqa: F401
