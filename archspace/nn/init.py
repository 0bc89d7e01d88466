"""Initial weights drawn from a seed alone: :func:`rebuild_seeded` and :func:`seed_weights`.

A model space (or a model built from one) holds the weights its constructor drew from torch's
global generator, in whatever state the caller's program left it. A search or a retraining that
promises "the same seed, the same result" must not depend on that state. A ModelSpace records the
arguments it was built with, so its constructor can run again under a generator seeded with the
search's seed: the same initialisation code (a space's own ``kaiming_normal_`` loop included),
drawn from the seed alone.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

from archspace.nn.context import frozen_context, space_context
from archspace.nn.space import ModelSpace

logger = logging.getLogger("archspace.nn")


def _devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() and torch.cuda.is_initialized() else []


def rebuild_seeded(module: nn.Module, seed: int) -> ModelSpace | None:
    """A new instance of ``module``'s ModelSpace class, built with the same arguments (and, for a
    frozen model, the same sample) under a generator seeded with ``seed``; the global random state
    is left as it was. None when ``module`` is not a ModelSpace that recorded its arguments."""
    if not isinstance(module, ModelSpace) or "_asp_init_args" not in module.__dict__:
        return None
    args, kwargs = copy.deepcopy(module.__dict__["_asp_init_args"])
    sample = module.frozen_sample
    with torch.random.fork_rng(devices=_devices()):
        torch.manual_seed(seed)
        if sample is not None:
            with frozen_context(sample):
                return type(module)(*args, **kwargs)
        with space_context():
            return type(module)(*args, **kwargs)


def seed_weights(module: nn.Module, seed: int) -> bool:
    """Give ``module`` (in place) the initial weights and buffers its constructor draws under
    ``seed``; True if it could.

    Only a ModelSpace (a space, or a model built under ``fixed_arch``/``freeze``) can be rebuilt;
    any other module, or one whose structure changed after it was built, keeps its weights and
    False is returned (logged at INFO).
    """
    twin = rebuild_seeded(module, seed)
    if twin is None:
        logger.info("%s is not an archspace ModelSpace: its weights stay as built (the seed does not fix them)",
                    type(module).__name__)
        return False
    try:
        module.load_state_dict(twin.state_dict())
    except RuntimeError as exc:
        logger.info("%s changed after it was built (%s): its weights stay as they are", type(module).__name__,
                    str(exc).splitlines()[0])
        return False
    return True


__all__ = ["rebuild_seeded", "seed_weights"]
