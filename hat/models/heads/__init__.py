"""Task heads."""

from hat.models.heads.context_network import ContextNetwork
from hat.models.heads.pwcnet_decoder import FlowDecoder
from hat.models.heads.pwcnet_head import PwcnetHead

__all__ = ["ContextNetwork", "FlowDecoder", "PwcnetHead"]
