"""An experiment file for the crash tests: run by `archspace run` in a subprocess, then killed."""

from __future__ import annotations

import os

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, ProcessExecutor
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.experiment.helpers import slow_metric

experiment = Experiment(
    TinySpace(), FunctionalEvaluator(slow_metric), Random(), max_trials=int(os.environ.get("ARCHSPACE_TEST_TRIALS", "12")),
    executor=ProcessExecutor(2, start_method=os.environ.get("ARCHSPACE_TEST_START_METHOD") or None),
    directory=os.environ.get("ARCHSPACE_TEST_DIR", "runs/killable"), seed=7, progress=False,
)
