"""MOTR (Zeng et al. 2022): end-to-end multi-object tracking with track queries.

The pieces live one concept per module: box geometry (``box_ops``), the per-frame query state
(``track_instances``); the deformable transformer, the tracklet-aware criterion, the query
interaction module and the runtime tracker build on them.
"""
