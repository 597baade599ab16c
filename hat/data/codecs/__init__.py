"""Per-dataset encodings of packed LMDB values."""
