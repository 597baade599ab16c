"""Sample-level and batch-level transforms (all registered in ``OBJECT_REGISTRY``).

Sample level (DataLoader workers): ``RandomCrop``, ``RandomFlip``, ``ToTensor``,
``SegRandomAffine``, ``FlowRandomAffineScale``. Batch level (on the device, in the batch
processor): ``BgrToYuv444``, ``Normalize`` / ``TorchVisionAdapter``, ``Scale``. Most accept a
numpy sample, a tensor sample or a collated batch.

Segmentation: ``PILToTensor`` (sample level), ``LabelRemap``, ``SegOneHot``, ``SegResize`` (either).

nuScenes multi-view (sample level): ``BevImgResize``, ``BevImgCrop``, ``BevImgFlip``,
``BevImgRotate`` (update the ``img_aug`` projection post-matrices), ``BevImgTransformWrapper``
(per-view image transforms); BEV-space ``BevRotate``, ``BevFlip`` (boxes, map target, ``bev_aug``).

Tracking clips (``{"frames": [...]}``, one random draw per clip): ``SeqRandomFlip``,
``RandomSelectOne``, ``SeqResize``, ``SeqRandomSizeCrop``, ``SeqToTensor``, ``SeqBgrToYuv444``,
``SeqNormalize``.
"""

from hat.data.transforms.affine import SegRandomAffine
from hat.data.transforms.bev_flip import BevFlip
from hat.data.transforms.bev_img_crop import BevImgCrop
from hat.data.transforms.bev_img_flip import BevImgFlip
from hat.data.transforms.bev_img_resize import BevImgResize
from hat.data.transforms.bev_img_rotate import BevImgRotate
from hat.data.transforms.bev_img_wrapper import BevImgTransformWrapper
from hat.data.transforms.bev_rotate import BevRotate
from hat.data.transforms.color import BgrToYuv444
from hat.data.transforms.compose import Compose, build_transforms
from hat.data.transforms.crop import RandomCrop
from hat.data.transforms.flip import RandomFlip
from hat.data.transforms.flow_scale import FlowRandomAffineScale
from hat.data.transforms.functional import InterpolationMode
from hat.data.transforms.label_remap import LabelRemap
from hat.data.transforms.normalize import Normalize, TorchVisionAdapter
from hat.data.transforms.scale import Scale
from hat.data.transforms.seg_onehot import SegOneHot
from hat.data.transforms.seg_resize import SegResize
from hat.data.transforms.seg_to_tensor import PILToTensor
from hat.data.transforms.seq_crop import SeqRandomSizeCrop
from hat.data.transforms.seq_flip import SeqRandomFlip
from hat.data.transforms.seq_frames import SeqBgrToYuv444, SeqNormalize, SeqToTensor
from hat.data.transforms.seq_resize import SeqResize
from hat.data.transforms.seq_select import RandomSelectOne
from hat.data.transforms.to_tensor import ToTensor

__all__ = [
    "BevFlip",
    "BevImgCrop",
    "BevImgFlip",
    "BevImgResize",
    "BevImgRotate",
    "BevImgTransformWrapper",
    "BevRotate",
    "BgrToYuv444",
    "Compose",
    "FlowRandomAffineScale",
    "InterpolationMode",
    "LabelRemap",
    "Normalize",
    "PILToTensor",
    "RandomCrop",
    "RandomFlip",
    "RandomSelectOne",
    "Scale",
    "SegOneHot",
    "SegRandomAffine",
    "SegResize",
    "SeqBgrToYuv444",
    "SeqNormalize",
    "SeqRandomFlip",
    "SeqRandomSizeCrop",
    "SeqResize",
    "SeqToTensor",
    "ToTensor",
    "TorchVisionAdapter",
    "build_transforms",
]
