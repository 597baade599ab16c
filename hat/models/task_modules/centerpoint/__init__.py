"""CenterPoint 3D detection on BEV features: head, targets, decoder, NMS, ``BevDetDecoder``."""

from hat.models.task_modules.centerpoint.bev_det_decoder import BevDetDecoder
from hat.models.task_modules.centerpoint.decoder import CenterPoint3dDecoder
from hat.models.task_modules.centerpoint.gaussian import draw_heatmap_gaussian, gaussian_radius
from hat.models.task_modules.centerpoint.head import CenterPoint3dHead
from hat.models.task_modules.centerpoint.nms import circle_nms, rotate_nms
from hat.models.task_modules.centerpoint.rotated_iou import rotated_iou_pairs
from hat.models.task_modules.centerpoint.target import CenterPoint3dTarget

__all__ = [
    "BevDetDecoder",
    "CenterPoint3dDecoder",
    "CenterPoint3dHead",
    "CenterPoint3dTarget",
    "circle_nms",
    "draw_heatmap_gaussian",
    "gaussian_radius",
    "rotate_nms",
    "rotated_iou_pairs",
]
