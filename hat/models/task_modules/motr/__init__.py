"""MOTR (Zeng et al. 2022): end-to-end multi-object tracking with track queries.

The pieces live one concept per module: box geometry (``box_ops``), the per-frame query state
(``track_instances``); the deformable transformer, the tracklet-aware criterion, the query
interaction module and the runtime tracker build on them.
"""

from hat.models.task_modules.motr.attention import MultiHeadAttention
from hat.models.task_modules.motr.criterion import MotrCriterion
from hat.models.task_modules.motr.deformable_attention import (
    MultiScaleDeformableAttention,
    ms_deform_attn_sample,
)
from hat.models.task_modules.motr.deformable_transformer import MotrDeformableTransformer
from hat.models.task_modules.motr.head import MotrHead
from hat.models.task_modules.motr.matcher import HungarianMatcher
from hat.models.task_modules.motr.position_encoding import PositionEmbeddingSine
from hat.models.task_modules.motr.post_process import MotrPostProcess
from hat.models.task_modules.motr.qim import QueryInteractionModule
from hat.models.task_modules.motr.runtime_tracker import RuntimeTracker
from hat.models.task_modules.motr.track_instances import TrackInstances, empty_track_instances

__all__ = [
    "HungarianMatcher",
    "MotrCriterion",
    "MotrDeformableTransformer",
    "MotrHead",
    "MotrPostProcess",
    "MultiHeadAttention",
    "MultiScaleDeformableAttention",
    "PositionEmbeddingSine",
    "QueryInteractionModule",
    "RuntimeTracker",
    "TrackInstances",
    "empty_track_instances",
    "ms_deform_attn_sample",
]
