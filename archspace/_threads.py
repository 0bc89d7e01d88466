"""How many torch threads a training process should use, and setting them for a block.

Torch defaults to one OpenMP thread per core in every process. When several processes train at
once (worker pools, torchrun ranks, a loaded machine), the threads fight for the cores and
OpenMP's spin-waiting makes small-tensor steps tens of times slower (two threads made a tiny step
50 times slower than one on a loaded 2-core machine). So archspace gives each training process a
fair share of the CPUs it may use, says so in the log, and restores the previous setting after.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import torch

logger = logging.getLogger("archspace")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fair_threads(share: int = 1) -> int:
    """Torch threads for one of ``share`` processes training at once on this machine."""
    return max(1, usable_cpus() // max(share, 1))


def local_processes() -> int:
    """Training processes on this machine: torchrun's ``LOCAL_WORLD_SIZE``, else 1."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


@contextlib.contextmanager
def torch_threads(threads: int | None, what: str) -> Iterator[int]:
    """Run the block with ``threads`` torch threads (None: a fair share), logged, then restore.

    ``OMP_NUM_THREADS`` set by the user counts as an explicit choice when ``threads`` is None.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        from archspace.errors import ArchspaceError

        raise ArchspaceError(f"threads must be a positive int or None, got {threads!r}")
    source = "as configured"
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            threads, source = int(env), "from OMP_NUM_THREADS"
        else:
            threads = fair_threads(local_processes())
            source = f"a fair share of {usable_cpus()} usable CPU(s) among {local_processes()} process(es)"
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    logger.info("%s: %d torch thread(s) (%s)", what, threads, source)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


__all__ = ["fair_threads", "local_processes", "torch_threads", "usable_cpus"]
