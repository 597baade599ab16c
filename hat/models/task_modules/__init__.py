"""Task modules: the per-task heads, targets and decoders of multitask models."""

from hat.models.task_modules import fcn  # noqa: F401
