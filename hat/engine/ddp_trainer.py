"""Multi-process training on ``torch.distributed`` (DistributedDataParallel).

The process group is created by the launcher (``tools/train.py``: torchrun environment or
``--device-ids`` spawn), before the config is built, so data loaders shard by rank. Each
process trains on ``cuda:LOCAL_RANK`` (or CPU with gloo). Without a process group, or with one
process, the model is not wrapped (DDP of one process only costs time).

``sync_bn=True`` converts BatchNorm layers to ``SyncBatchNorm`` on GPU. torch's SyncBatchNorm
has no CPU kernel, so on CPU the layers stay per-process BatchNorm and a warning says so.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hat.data.dataloader import resumable_sampler_of
from hat.engine.loop_base import LoopBase
from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import get_rank, get_world_size, is_dist_initialized

__all__ = ["DistributedDataParallelTrainer"]

logger = logging.getLogger(__name__)


@OBJECT_REGISTRY.register
@OBJECT_REGISTRY.alias("distributed_data_parallel_trainer")
class DistributedDataParallelTrainer(LoopBase):
    """:class:`~hat.engine.loop_base.LoopBase` training with DDP.

    Extra args:
        sync_bn: convert BatchNorm to SyncBatchNorm (GPU only, see module docstring).
        find_unused_parameters: passed to DDP; keep False (faster) unless some parameters get
            no gradient in a step, in which case DDP's error tells you to turn it on.
        broadcast_buffers: False stops DDP from syncing buffers (e.g. BN statistics) from rank 0
            at each forward.
    """

    is_training = True

    def __init__(
        self,
        *args: Any,
        sync_bn: bool = False,
        find_unused_parameters: bool = False,
        broadcast_buffers: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sync_bn = sync_bn
        self.find_unused_parameters = find_unused_parameters
        self.broadcast_buffers = broadcast_buffers

    @property
    def distributed(self) -> bool:
        return is_dist_initialized() and get_world_size() > 1

    def _before_optimizer(self) -> None:
        if not (self.sync_bn and self.distributed):
            return
        if self.device.type == "cpu":
            batch_norm = nn.modules.batchnorm._BatchNorm
            has_bn = any(isinstance(m, batch_norm) for m in self.model.modules())
            if has_bn and get_rank() == 0:
                logger.warning(
                    "sync_bn=True: torch's SyncBatchNorm has no CPU implementation; BatchNorm "
                    "statistics stay per process on CPU"
                )
            return
        self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        if not self.distributed:
            logger.info("one process: training without the DDP wrapper")
            return model
        sampler = resumable_sampler_of(self.data_loader)
        if sampler is not None and not sampler.pad_to_even:
            logger.warning(
                "the training loader shards unevenly (shuffle=False and no sampler); ranks may "
                "run different step counts and hang: set shuffle=True or a DistributedSampler"
            )
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        buffers = {} if self.broadcast_buffers else {"broadcast_buffers": False}
        return DistributedDataParallel(
            model,
            device_ids=device_ids,
            find_unused_parameters=self.find_unused_parameters,
            **buffers,  # torch >= 2.13 warns when broadcast_buffers is passed at all
        )
