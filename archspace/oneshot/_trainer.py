"""Compatibility names: the loop now lives in ``loop.py``, checkpoints in ``checkpoint.py`` and the
data-parallel helpers in ``distributed.py``; import from those (or from ``archspace.oneshot``)."""

from __future__ import annotations

from archspace.oneshot.checkpoint import CheckpointError
from archspace.oneshot.distributed import average_gradients, broadcast_buffers, broadcast_parameters
from archspace.oneshot.loop import Batch, LossFn, OneShotTrainer

__all__ = ["Batch", "CheckpointError", "LossFn", "OneShotTrainer", "average_gradients", "broadcast_buffers",
           "broadcast_parameters"]
