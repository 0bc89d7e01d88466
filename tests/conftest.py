"""Test-session settings.

pytest runs with two xdist workers on a 2-core machine, and several tests start subprocesses
(examples, torchrun ranks, experiment workers). With torch's default of one OpenMP thread per core
in every process, the cores are oversubscribed and OpenMP's spin-waiting makes small-tensor code
(the RL controller, smoke runs) tens of times slower. One thread per process keeps every test at
its solo speed; subprocesses inherit OMP_NUM_THREADS.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)
