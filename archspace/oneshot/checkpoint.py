"""One-shot checkpoints and the files of a search's directory, named here and nowhere else.

A checkpoint is the trainer's :meth:`~archspace.oneshot.OneShotTrainer.state_dict` plus the
architecture history so far, saved with ``torch.save``. Loading uses ``weights_only=True``: a
checkpoint holds tensors and plain containers only, so a crafted file is refused, never executed.

A search run with ``directory`` writes there: the checkpoint (:func:`checkpoint_path`), the
per-epoch architecture log (:func:`history_path`, read back with :func:`read_history`) and each
epoch's sample (:func:`epoch_sample_path`). Anything that reads a search's directory (an
experiment recovering epochs, its doctor) asks these functions for the names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from archspace.errors import ArchspaceError

REQUIRED_KEYS = frozenset({"weights", "arch", "epoch"})
CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "arch_history.json"


def checkpoint_path(directory: str | os.PathLike[str]) -> Path:
    """The checkpoint of the search run in ``directory``."""
    return Path(directory) / CHECKPOINT_FILE


def history_path(directory: str | os.PathLike[str]) -> Path:
    """The architecture history (a JSON list of epoch records) of the search run in ``directory``."""
    return Path(directory) / HISTORY_FILE


def epoch_sample_path(directory: str | os.PathLike[str], epoch: int) -> Path:
    """The sample exported after epoch ``epoch`` (counted from 0) of the search run in ``directory``."""
    return Path(directory) / f"arch_epoch_{epoch}.json"


def write_history(directory: str | os.PathLike[str], history: list[dict[str, Any]]) -> None:
    """Write the epoch records so far to :func:`history_path` (the whole list, every epoch)."""
    history_path(directory).write_text(json.dumps(history, indent=1) + "\n")


def read_history(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The epoch records of the search run in ``directory``, oldest first.

    The history is a convenience copy of what the checkpoint holds: a missing, unreadable or
    damaged file gives an empty list (the epochs it would list are run and recorded again), and
    entries that are not records (dicts) are left out.
    """
    try:
        records = json.loads(history_path(directory).read_text())
    except (OSError, ValueError):
        return []
    return [record for record in records if isinstance(record, dict)] if isinstance(records, list) else []


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


def restore_checkpoint(path: str | os.PathLike[str], load_state_dict: Callable[[Mapping[str, Any]], None], *,
                       search: str, epochs: int) -> list[dict[str, Any]]:
    """Load the checkpoint at ``path`` into a trainer (its ``load_state_dict``) of a ``search``
    (its class name) of ``epochs`` epochs; returns the epoch records it holds, oldest first.

    Raises:
        CheckpointError: what :func:`read_checkpoint` refuses, a checkpoint with more finished
            epochs than the search has, or one whose state does not fit the trainer (another
            network or algorithm), each named in the message.
    """
    state = read_checkpoint(path)
    if state["epoch"] > epochs:
        raise CheckpointError(f"checkpoint {str(path)!r} has {state['epoch']} finished epochs but this "
                              f"{search} search has {epochs}: it belongs to another search "
                              "(or raise epochs to continue it)")
    try:
        load_state_dict(state)
    except CheckpointError:
        raise
    except Exception as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit this {search} search on this "
                              f"space ({type(exc).__name__}: {first}); it was written for another network or "
                              "another algorithm") from None
    history = state.get("history", [])
    return list(history) if isinstance(history, list) else []


__all__ = ["CHECKPOINT_FILE", "HISTORY_FILE", "CheckpointError", "checkpoint_path", "epoch_sample_path", "history_path",
           "read_checkpoint", "read_history", "restore_checkpoint", "save_checkpoint", "write_history"]
