"""Data layer: LMDB pack/read, raw readers, datasets, transforms, collates, synthetic generators.

Kept import-light on purpose: import the submodule you need (``hat.data.collates``,
``hat.data.datasets``, ``hat.data.transforms``, ...).
"""
