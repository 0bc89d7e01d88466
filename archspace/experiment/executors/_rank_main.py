"""A rank of a trial that runs as several processes: what ``RANK_COMMAND`` runs (see :mod:`._ranks`)."""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from archspace.experiment.executors._ranks import RankConfig
from archspace.experiment.executors._worker import SpaceRecipe, die_with_parent, load_source
from archspace.experiment.runner import Finished, describe, run_trial
from archspace.storage.base import TrialStatus


def _rank_report(conn: Connection, rank: int, judged: bool, device: Any) -> Callable[[int, float], bool]:
    """``ctx.report``'s channel on a rank: rank 0 asks the driver (through the agent), and with a
    scheduler every rank receives rank 0's verdict in a broadcast, so all stop at the same report."""
    import torch
    from torch import distributed as dist

    def report(step: int, value: float) -> bool:
        stop = False
        if rank == 0:
            conn.send(("report", step, value, judged))
            if judged:
                stop = bool(conn.recv())
        if judged:
            flag = torch.tensor([1 if stop else 0], dtype=torch.int64, device=device)
            dist.broadcast(flag, 0)
            stop = bool(flag.item())
        return stop

    return report


def rank_main() -> None:
    """A rank's life: join the process group, receive the sample, run the trial, send the result."""
    fd = int(os.environ["ARCHSPACE_RANK_FD"])
    os.set_inheritable(fd, False)  # programs the evaluator runs do not get the agent's socket
    conn = Connection(fd)
    rank = int(os.environ["RANK"])
    die_with_parent(int(os.environ["ARCHSPACE_RANK_PARENT"]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides how to stop
    config: RankConfig = conn.recv()
    trial_id = config.trial_id
    try:
        for path in config.paths:
            if path and path not in sys.path and os.path.isdir(path):
                sys.path.append(path)
        import torch
        from torch import distributed as dist

        torch.set_num_threads(config.threads)
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local % torch.cuda.device_count())
            backend, device = "nccl", torch.device("cuda", torch.cuda.current_device())
        else:
            backend, device = "gloo", torch.device("cpu")
        dist.init_process_group(backend)
        box: list[Any] = [conn.recv() if rank == 0 else None]
        dist.broadcast_object_list(box, 0)  # the sample rank 0 read, for every rank
        sample: dict[str, Any] = box[0]
        load_source(config.source)
        packed, evaluator = pickle.loads(config.payload)
        space = packed.build() if isinstance(packed, SpaceRecipe) else packed
    except BaseException as exc:
        conn.send(("done", Finished(trial_id, TrialStatus.FAILED, error=describe(exc), exception=type(exc).__name__)))
        raise
    result = run_trial(space, evaluator, trial_id, sample, _rank_report(conn, rank, config.judged, device),
                       config.directory, keep_weights=config.keep_weights and rank == 0)
    conn.send(("done", result))
    conn.close()
    # no destroy_process_group: a peer may be gone already; the agent reaps every rank
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


__all__ = ["rank_main"]
