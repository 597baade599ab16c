"""FCN segmentation task modules: the BEV map-segmentation branch (head, target, decoder)."""

from hat.models.task_modules.fcn.bev_seg_decoder import BevSegDecoder
from hat.models.task_modules.fcn.decoder import FCNDecoder
from hat.models.task_modules.fcn.head import DepthwiseSeparableFCNHead
from hat.models.task_modules.fcn.target import FCNTarget

__all__ = ["BevSegDecoder", "DepthwiseSeparableFCNHead", "FCNDecoder", "FCNTarget"]
