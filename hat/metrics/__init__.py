"""Evaluation metrics (accumulated over a whole split, synchronised across DDP ranks)."""

from hat.metrics.alignment import AlignmentMetric

__all__ = ["AlignmentMetric"]
