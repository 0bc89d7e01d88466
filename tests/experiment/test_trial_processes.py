"""Trials that run as several processes (``trial_processes=2``, gloo on CPU): the ranks average their
gradients (the weights equal one process's on the whole batch), share one sample, stop together on a
scheduler's verdict; a rank's death or a timeout fails the trial and leaves no process behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from archspace.experiment import Experiment, InvalidSettingError
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.experiment.ranks_helpers import EVALUATOR, StopAt, alive, check_equal_to_one_process, ranks_seen


def test_two_ranks_on_the_process_pool(tmp_path: Path) -> None:
    # two workers: one runs x=0 (trains), then x=2 (pruned); the other x=1 (rank 1 dies), then x=3 (timeout)
    samples = [{"x": 0, "hidden": 2}, {"x": 1, "hidden": 2}, {"x": 2, "hidden": 4}, {"x": 3, "hidden": 2}]
    experiment = Experiment(TinySpace(), EVALUATOR, Random(), max_trials=len(samples), concurrency=2,
                            directory=tmp_path, progress=False, trial_processes=2, keep_weights="all",
                            scheduler=StopAt([2], step=2), trial_timeout=12)
    for sample in samples:
        experiment.enqueue(sample)
    trials = experiment.run()

    by_x = {t.sample["x"]: t for t in trials}
    assert by_x[0].status.value == "succeeded" and by_x[0].metrics["rank"] == 0  # rank 0's result
    assert [step for step, _ in by_x[0].intermediates] == [1, 2, 3]
    check_equal_to_one_process(tmp_path, by_x[0].id, samples[0])
    killed = by_x[1]  # rank 1 SIGKILLed itself after a step: the trial fails, blaming rank 1
    assert killed.status.value == "failed" and (killed.error or "").startswith("rank 1 of 2 (pid ")
    assert "killed by SIGKILL" in (killed.error or "").split("\n")[0]
    assert by_x[3].status.value == "timeout"  # both ranks slept past the timeout
    pruned = by_x[2]  # stopped at step 2 on both ranks at once (a rank left behind would hang the other)
    assert pruned.status.value == "pruned" and [s for s, _ in pruned.intermediates] == [1, 2]
    for trial in trials:  # every rank of every trial is gone
        for seen in ranks_seen(tmp_path / "trials" / str(trial.id)):
            assert not alive(int(str(seen["pid"]))), (trial.id, trial.status, seen)


def test_the_setting_is_checked() -> None:
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(InvalidSettingError, match="trial_processes must be an int >= 1"):
            Experiment(TinySpace(), EVALUATOR, Random(), trial_processes=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidSettingError, match="'process' or 'ray'"):
        Experiment(TinySpace(), EVALUATOR, Random(), executor="inline", trial_processes=2)


class _Exited:
    """Stands in for a rank's ended process."""

    def __init__(self, pid: int, returncode: int) -> None:
        self.pid, self.returncode = pid, returncode


def _rank(rank: int, seen: float, *, died: int | None = None, error: str | None = None,
          exception: str | None = None) -> Any:
    from archspace.experiment import Finished
    from archspace.experiment.executors._ranks import _Rank
    from archspace.storage import TrialStatus

    result = None if died is not None else Finished(7, TrialStatus.FAILED, error=error, exception=exception)
    return _Rank(rank, _Exited(100 + rank, died if died is not None else 0), None, result, seen)  # type: ignore[arg-type]


@pytest.mark.parametrize("ranks, blamed", [
    # rank 1 died; rank 0's collective broke a moment earlier: the death is the cause
    ([_rank(0, 1.0, error="RuntimeError: [gloo] Connection closed by peer", exception="RuntimeError"),
      _rank(1, 1.1, died=-9)], "rank 1 of 2 (pid 101) was killed by SIGKILL"),
    # rank 1 raised; rank 0 only saw the broken collective
    ([_rank(0, 1.0, error="DistBackendError: NCCL communicator was aborted", exception="DistBackendError"),
      _rank(1, 1.2, error="ValueError: bad batch", exception="ValueError")], "rank 1 of 2 (pid 101) failed: ValueError"),
    # rank 0 raised first, of its own; rank 1's collective broke after
    ([_rank(0, 1.0, error="KeyError: 'x'", exception="KeyError"),
      _rank(1, 1.1, error="RuntimeError: Connection reset by peer", exception="RuntimeError")],
     "rank 0 of 2 (pid 100) failed: KeyError"),
])
def test_a_failed_trial_blames_the_rank_that_failed_of_its_own(ranks: list[Any], blamed: str) -> None:
    from archspace.experiment.executors._ranks import _failure

    result = _failure(ranks, 2, 7)
    assert result.status.value == "failed" and (result.error or "").startswith(blamed), result.error
    assert "then, on the other ranks: rank " in (result.error or "")
