"""Evaluation metrics (accumulated over a whole split, synchronised across DDP ranks)."""
