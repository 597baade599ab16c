"""Sample-level and batch-level transforms (all registered in ``OBJECT_REGISTRY``).

Sample level (DataLoader workers): ``RandomCrop``, ``RandomFlip``, ``ToTensor``,
``SegRandomAffine``, ``FlowRandomAffineScale``. Batch level (on the device, in the batch
processor): ``BgrToYuv444``, ``Normalize`` / ``TorchVisionAdapter``, ``Scale``. Most accept a
numpy sample, a tensor sample or a collated batch.
"""

from hat.data.transforms.affine import SegRandomAffine
from hat.data.transforms.color import BgrToYuv444
from hat.data.transforms.compose import Compose, build_transforms
from hat.data.transforms.crop import RandomCrop
from hat.data.transforms.flip import RandomFlip
from hat.data.transforms.flow_scale import FlowRandomAffineScale
from hat.data.transforms.functional import InterpolationMode
from hat.data.transforms.normalize import Normalize, TorchVisionAdapter
from hat.data.transforms.scale import Scale
from hat.data.transforms.to_tensor import ToTensor

__all__ = [
    "BgrToYuv444",
    "Compose",
    "FlowRandomAffineScale",
    "InterpolationMode",
    "Normalize",
    "RandomCrop",
    "RandomFlip",
    "Scale",
    "SegRandomAffine",
    "ToTensor",
    "TorchVisionAdapter",
    "build_transforms",
]
