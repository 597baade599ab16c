"""Task heads."""

from hat.models.heads.context_network import ContextNetwork
from hat.models.heads.pwcnet_decoder import FlowDecoder
from hat.models.heads.pwcnet_head import PwcnetHead
from hat.models.heads.pwcnet_level import PwcnetLevel
from hat.models.heads.seg_head import SegHead
from hat.models.heads.stereonet_head import StereoNetHead

__all__ = [
    "ContextNetwork",
    "FlowDecoder",
    "PwcnetHead",
    "PwcnetLevel",
    "SegHead",
    "StereoNetHead",
]
