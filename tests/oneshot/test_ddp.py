"""Two real CPU processes under torchrun (gloo) end with identical weights and logits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.parametrize("algorithm", ["darts1", "darts2", "gumbel"])
def test_two_ranks_end_identical(tmp_path: Path, algorithm: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(WORKER), algorithm, str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert a["params"].keys() == b["params"].keys() and any(k.startswith("arch.") for k in a["params"])
    for key in a["params"]:
        assert torch.equal(a["params"][key], b["params"][key]), key
    for key in a["buffers"]:
        assert torch.equal(a["buffers"][key], b["buffers"][key]), key
