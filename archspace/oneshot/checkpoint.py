"""One-shot checkpoints: written atomically, read back without running any pickled code.

A checkpoint is the trainer's :meth:`~archspace.oneshot.OneShotTrainer.state_dict` plus the
architecture history so far, saved with ``torch.save``. Loading uses ``weights_only=True``: a
checkpoint holds tensors and plain containers only, so a crafted file is refused, never executed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from archspace.errors import ArchspaceError

REQUIRED_KEYS = frozenset({"weights", "arch", "epoch"})


class CheckpointError(ArchspaceError, ValueError):
    """A one-shot checkpoint is missing, damaged, or not safe to load."""


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the previous checkpoint."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save(dict(state), tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state saved at ``path``, loaded on the CPU (modules copy it to their device).

    Raises:
        CheckpointError: no file, a file that is not a safe archspace checkpoint, or one missing
            the keys every one-shot checkpoint has.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {str(path)!r}") from None
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:300] or f"{type(exc).__name__} (an empty or cut file?)"
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be loaded safely: {first}; it must be a "
            "checkpoint written by archspace (tensors and plain data only)"
        ) from None
    if not isinstance(state, dict) or not REQUIRED_KEYS <= set(state):
        raise CheckpointError(f"{str(path)!r} is not an archspace one-shot checkpoint "
                              "(expected the keys 'weights', 'arch', 'epoch', ...)")
    epoch = state["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointError(f"checkpoint {str(path)!r} has epoch {epoch!r}; expected the number of finished "
                              "epochs, an int >= 0")
    for key in ("weights", "arch"):
        if not isinstance(state[key], Mapping):
            raise CheckpointError(f"checkpoint {str(path)!r} has {key!r} of type {type(state[key]).__name__}; "
                                  "expected a state dict")
    return state


__all__ = ["CheckpointError", "read_checkpoint", "save_checkpoint"]
