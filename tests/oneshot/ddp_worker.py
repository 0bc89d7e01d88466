"""Run under torchrun: each rank searches on its own data shard; all must end identical."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch import distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from archspace.oneshot import DARTS, GumbelDARTS  # noqa: E402
from archspace.testing import SharedNet  # noqa: E402
from archspace.testing.oneshot_contracts import end_rank  # noqa: E402


def main() -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.set_num_threads(1)
    algorithm = sys.argv[1]
    out = Path(sys.argv[2])
    g = torch.Generator().manual_seed(100 + rank)  # a different shard per rank
    data = [(torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)) for _ in range(6)]
    torch.manual_seed(rank)  # different initial weights per rank: rank 0's must win
    space = SharedNet()
    trainer = (DARTS(order=int(algorithm[-1]), epochs=2, progress=False) if algorithm.startswith("darts")
               else GumbelDARTS(epochs=2, hard=True, progress=False))
    trainer.fit(space, data[:3], data[3:])
    state = {"params": {k: v.detach() for k, v in trainer.supernet.named_parameters()},
             "buffers": {k: v.detach() for k, v in trainer.supernet.named_buffers()}}
    torch.save(state, out / f"rank{rank}.pt")
    dist.barrier()  # both ranks done before either tears gloo down (else a rank can abort in its threads)
    dist.destroy_process_group()
    end_rank()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
