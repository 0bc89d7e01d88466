"""The Ray executor on a real local Ray (2 CPUs): runs, curves, lost workers, timeouts, early
stopping, SIGTERM and a SIGKILLed driver then resume, the config route, and bad settings."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from archspace.cli.config import ConfigError, from_config
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, Terminated
from archspace.experiment.executors.ray import RayExecutor, RayExecutorError, RayNotInstalledError
from archspace.schedule import ASHA
from archspace.storage import SQLiteStorage, TrialRecord
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.experiment import ranks_helpers, ray_helpers
from tests.experiment.helpers import alive, faulty
from tests.experiment.ray_helpers import SleepsOnce, curve, long_curve
from tests.schedule.curves import EPOCHS, CurveSpace, quality, value
from tests.schedule.curves import curve as asha_curve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray for the in-process tests (starting one costs seconds); executors reuse it."""
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def test_twenty_trials_two_at_a_time_complete_with_their_curves(tmp_path: Path) -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(curve), Random(dedup=False), max_trials=20, concurrency=2,
                            executor="ray", directory=tmp_path, progress=False)
    trials = experiment.run()
    assert [t.id for t in trials] == list(range(20))
    assert all(t.status == "succeeded" and t.metric == t.sample["x"] for t in trials)
    for t in trials:  # reports reached the driver and the store, step by step
        x = t.sample["x"]
        assert t.intermediates == [(1, x / 4), (2, x / 2), (3, x)]
        assert t.worker is not None and t.worker.startswith("ray:")
    spans = sorted((t.started_at or 0.0, t.ended_at or 0.0) for t in trials)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two trials ever ran at once"
    # neither the store nor the strategy saw a trial id twice
    with sqlite3.connect(tmp_path / "experiment.db") as db:
        assert db.execute("SELECT count(*), count(DISTINCT id) FROM trials").fetchone() == (20, 20)
    _, told = SQLiteStorage(tmp_path / "experiment.db", read_only=True).load_strategy()
    assert sorted(told) == list(range(20))


class _Killer(threading.Thread):
    """SIGKILLs the pid published in ``pid_file`` and notes whether that process then died (checked
    right away: long after, a busy machine may have given the pid to another process)."""

    def __init__(self, pid_file: Path) -> None:
        super().__init__(daemon=True)
        self.pid_file = pid_file
        self.died = False

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(self.pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        gone = time.monotonic() + 30
        while alive(pid) and time.monotonic() < gone:
            time.sleep(0.02)
        self.died = not alive(pid)


def _kill_when_published(pid_file: Path) -> _Killer:
    killer = _Killer(pid_file)
    killer.start()
    return killer


@pytest.mark.parametrize("retries", [0, 1])
def test_a_ray_worker_killed_mid_trial_fails_or_retries_that_trial_and_the_run_goes_on(
        tmp_path: Path, retries: int) -> None:
    killer = _kill_when_published(tmp_path / "pid")
    executor = RayExecutor(2, max_retries=retries)
    experiment = Experiment(TinySpace(), SleepsOnce(str(tmp_path), victim=2), Random(), max_trials=6,
                            executor=executor, directory=tmp_path / "run", progress=False)
    trials = experiment.run()
    killer.join(timeout=35)
    assert killer.died  # the worker was really killed mid-trial
    assert [t.id for t in trials] == list(range(6))
    assert all(t.status == "succeeded" for t in trials if t.id != 2)
    victim = trials[2]
    if retries:
        assert victim.status == "succeeded" and victim.metric == victim.sample["x"]
        assert "running it again (retry 1 of 1)" in (tmp_path / "run" / "experiment.log").read_text()
    else:
        assert victim.status == "failed"
        assert (victim.error or "").startswith("Ray worker died: WorkerCrashedError")
        assert f":{(tmp_path / 'pid').read_text()})" in (victim.error or "")  # names the lost worker


def test_evaluator_errors_and_timeouts_are_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(faulty), Random(), max_trials=5, concurrency=2,
                            executor="ray", directory=tmp_path, trial_timeout=2, progress=False)
    for x in (1, 3):  # raises; sleeps past the timeout
        experiment.enqueue({"x": x, "hidden": 2})
    trials = experiment.run()
    assert trials[0].status == "failed" and "ValueError: evaluator exploded on purpose" in (trials[0].error or "")
    assert trials[1].status == "timeout" and "timeout of 2" in (trials[1].error or "")
    assert len(trials) == 5 and all(t.status in ("succeeded", "failed", "timeout") for t in trials)


def test_the_judge_stops_a_trial_part_way_and_it_ends_pruned_with_its_last_value(tmp_path: Path) -> None:
    executor = RayExecutor(2)
    executor.judge = lambda trial_id, step, value: trial_id % 2 == 1 and step >= 2
    experiment = Experiment(TinySpace(), FunctionalEvaluator(long_curve), Random(), max_trials=4,
                            executor=executor, directory=tmp_path, progress=False)
    trials = experiment.run()
    for t in trials:
        steps = [step for step, _ in t.intermediates]
        if t.id % 2:  # the verdict on step 2 reached the trial before it went on: its curve ends there
            assert t.status == "pruned" and steps == [1, 2], (t.status, t.intermediates)
            assert t.metric == t.intermediates[-1][1] == t.id + 0.2
        else:
            assert t.status == "succeeded" and steps == [1, 2, 3, 4, 5]
    _, told = SQLiteStorage(tmp_path / "experiment.db", read_only=True).load_strategy()
    assert sorted(told) == [0, 1, 2, 3]


def test_asha_on_ray_stops_trials_at_its_rungs_and_keeps_the_best(tmp_path: Path) -> None:
    experiment = Experiment(CurveSpace(), FunctionalEvaluator(asha_curve), Random(), scheduler=ASHA(max_resource=EPOCHS),
                            max_trials=24, executor="ray", concurrency=2, seed=1, directory=tmp_path, progress=False)
    trials = experiment.run()
    assert len(trials) == 24 and all(t.finished for t in trials)
    assert quality(experiment.best(1)[0].sample) == max(quality(t.sample) for t in trials)
    pruned = [t for t in trials if t.status == "pruned"]
    assert pruned and sum(len(t.intermediates) for t in trials) < 0.6 * len(trials) * EPOCHS
    for t in pruned:  # each stopped at the rung that judged it, its curve recorded up to there
        steps = [s for s, _ in t.intermediates]
        assert steps == list(range(1, steps[-1] + 1)) and steps[-1] in (1, 3, 9)
        assert t.metric == t.intermediates[-1][1] == pytest.approx(value(t.sample, steps[-1]))
    assert all(len(t.intermediates) == EPOCHS for t in trials if t.status == "succeeded")


def _succeeded(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM trials WHERE status = 'succeeded'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _wait_for_three(db: Path, driver: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 120
    while _succeeded(db) < 3:
        assert driver is None or driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "the driver made no progress"
        time.sleep(0.05)


def _all_gone(pids_folder: Path, trials: list[int] | None = None) -> bool:
    """Whether the worker processes that ran ``trials`` (default: any trial) have all ended."""
    files = pids_folder.glob("*.pid") if trials is None else [pids_folder / f"{t}.pid" for t in trials]
    workers = [int(p.read_text()) for p in files if p.exists()]
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    return bool(workers) and not any(alive(pid) for pid in workers)


def _resume_completes(directory: Path, before: dict[int, TrialRecord]) -> None:
    trials = ray_helpers.experiment(directory).resume()  # a new executor in a new run, on this process's Ray
    assert [t.id for t in trials] == list(range(12)) and all(t.status == "succeeded" for t in trials)
    for i, old in before.items():  # finished trials kept, not re-run
        if old.status == "succeeded":
            assert trials[i].ended_at == old.ended_at
    assert len({tuple(sorted(t.sample.items())) for t in trials}) == 12  # the strategy never repeated itself
    assert all(t.metric == t.sample["x"] + t.sample["hidden"] / 10 for t in trials)


def test_sigterm_cancels_running_ray_tasks_marks_them_interrupted_and_the_run_resumes(tmp_path: Path) -> None:
    def terminate() -> None:  # once trials 0-2 succeeded and trials 3 and 4 hang mid-trial
        _wait_for_three(tmp_path / "experiment.db")
        deadline = time.monotonic() + 60
        while not all((tmp_path / "pids" / f"{t}.pid").exists() for t in (3, 4)) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler pre-empting the driver would

    threading.Thread(target=terminate, daemon=True).start()
    with pytest.raises(Terminated):
        ray_helpers.experiment(tmp_path, hang_from=3).run()
    before = {t.id: t for t in SQLiteStorage(tmp_path / "experiment.db", read_only=True).trials()}
    assert [t.status for t in before.values()] == ["succeeded"] * 3 + ["interrupted"] * 2
    # their tasks were force-cancelled: the workers running them were killed
    assert _all_gone(tmp_path / "pids", [3, 4]), "a cancelled Ray task's worker is still running"
    _resume_completes(tmp_path, before)


def test_after_a_sigkilled_driver_no_trial_runs_on_and_the_run_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-m", "tests.experiment.ray_helpers", str(tmp_path)], env=env,
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_three(tmp_path / "experiment.db", driver)
    driver.kill()
    driver.communicate(timeout=60)
    before = {t.id: t for t in SQLiteStorage(tmp_path / "experiment.db", read_only=True).trials()}
    assert 3 <= sum(t.status == "succeeded" for t in before.values()) and len(before) < 12
    assert _all_gone(tmp_path / "pids"), "a Ray worker outlived its driver"
    _resume_completes(tmp_path, before)


def test_the_config_route_builds_and_runs_a_ray_executor(tmp_path: Path) -> None:
    experiment = from_config({
        "space": "archspace.testing.spaces:ExampleNet", "strategy": "random",
        "evaluator": {"name": "classification", "data": "digits", "epochs": 1},
        "experiment": {"max_trials": 2, "concurrency": 2, "progress": False, "directory": str(tmp_path),
                       "executor": {"name": "ray", "resources_per_trial": {"cpu": 1}, "max_retries": 2}},
    })
    executor = experiment.executor
    assert isinstance(executor, RayExecutor)
    assert (executor.concurrency, executor.max_retries, executor.resources) == (2, 2, {"cpu": 1.0, "gpu": 0.0})
    trials = experiment.run()
    assert [t.status for t in trials] == ["succeeded", "succeeded"], [t.error for t in trials]
    assert all(0 <= (t.metric or -1) <= 1 for t in trials)  # real accuracies, trained on the Ray workers
    assert all(t.worker is not None and t.worker.startswith("ray:") for t in trials)


@pytest.mark.parametrize(("resources", "message"), [
    ({"tpu": 1}, r"unknown key\(s\) \['tpu'\]; allowed keys: \['cpu', 'gpu', 'memory'\]"),
    ({"cpu": -1}, r"resources_per_trial\['cpu'\] must be a number >= 0, got -1"),
    ({"gpu": "half"}, r"resources_per_trial\['gpu'\] must be a number >= 0, got 'half'"),
    ({"gpu": 1.5}, r"a fraction <= 1 or a whole number of GPUs, got 1.5"),
    ({"cpu": 0}, r"must ask for some CPU or GPU"),
    ([1, 0], r"must be a mapping such as"),
])
def test_bad_resources_per_trial_are_a_clear_error(resources: object, message: str) -> None:
    with pytest.raises(RayExecutorError, match=message):
        RayExecutor(1, resources_per_trial=resources)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="bad executor 'ray' settings: .*" + message):
        from_config({"space": "archspace.testing.spaces:TinySpace", "strategy": "random",
                     "evaluator": {"name": "regression", "data": "digits"},
                     "experiment": {"executor": {"name": "ray", "resources_per_trial": resources}}})


def test_fractional_gpus_are_accepted_as_declared() -> None:
    assert RayExecutor(2, resources_per_trial={"cpu": 2, "gpu": 0.25}).resources == {"cpu": 2.0, "gpu": 0.25}


def test_without_ray_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails, as when it is not installed
    with pytest.raises(RayNotInstalledError, match=r"executor 'ray' needs Ray: pip install 'archspace\[ray\]'"):
        Experiment(TinySpace(), FunctionalEvaluator(curve), Random(), max_trials=1, executor="ray").run()



def test_a_ray_we_did_not_start_gets_a_startup_deadline_that_names_what_is_missing(tmp_path: Path) -> None:
    """This module's Ray (2 CPUs, no GPU) is one archspace did not start, as a user's own
    ray.init or a joined cluster: an autoscaler might add a GPU, so it waits, but not forever."""
    executor = RayExecutor(2, resources_per_trial={"cpu": 1, "gpu": 1}, startup_timeout=3)
    experiment = Experiment(TinySpace(), FunctionalEvaluator(curve), Random(), max_trials=2, concurrency=2,
                            executor=executor, directory=tmp_path, progress=False)
    began = time.monotonic()
    with pytest.raises(RayExecutorError, match=r"no trial started within startup_timeout=3 s: .*1 GPU \(the cluster has 0\)"):
        experiment.run()
    assert time.monotonic() - began < 60
    with pytest.raises(RayExecutorError, match="startup_timeout"):
        RayExecutor(1, startup_timeout=0)


def test_a_trial_of_two_gloo_ranks_on_ray_trains_as_one_process_on_the_whole_batch(tmp_path: Path) -> None:
    sample = {"x": 0, "hidden": 2}
    experiment = Experiment(TinySpace(), ranks_helpers.EVALUATOR, Random(), max_trials=1, executor="ray",
                            directory=tmp_path, progress=False, trial_processes=2, keep_weights="all")
    experiment.enqueue(sample)
    [trial] = experiment.run()  # the task asks for one CPU per rank: the local Ray's two
    assert trial.status == "succeeded" and trial.metrics["rank"] == 0 and (trial.worker or "").startswith("ray:")
    ranks_helpers.check_equal_to_one_process(tmp_path, trial.id, sample)
    assert not any(ranks_helpers.alive(int(seen["pid"])) for seen in ranks_helpers.ranks_seen(tmp_path / "trials/0"))


def test_the_inbox_actor_reaches_its_process_without_importing_archspace_or_torch(tmp_path: Path) -> None:
    """After a run, Ray's cloudpickle sends the inbox's class by value: a fresh interpreter that
    cannot import archspace or torch at all builds it and runs its mailbox (by reference, the
    actor's process spent seconds importing torch before the first trial could say it started)."""
    from ray import cloudpickle

    from archspace.experiment.executors._ray_inbox import Inbox

    experiment = Experiment(TinySpace(), FunctionalEvaluator(curve), Random(), max_trials=1, executor="ray",
                            directory=tmp_path, progress=False)
    assert [t.status for t in experiment.run()] == ["succeeded"]
    (tmp_path / "inbox.pkl").write_bytes(cloudpickle.dumps(Inbox))  # as Ray ships an actor's class
    blocked = "('archspace', 'torch')"
    script = ("import pickle, sys\n"
              "class Blocked:\n"
              "    @staticmethod\n"
              "    def find_spec(name, *args):\n"
              f"        if name.split('.')[0] in {blocked}: raise ImportError(name)\n"
              "sys.meta_path.insert(0, Blocked())\n"
              f"inbox = pickle.loads(open({str(tmp_path / 'inbox.pkl')!r}, 'rb').read())()\n"
              "inbox.started(3, 0, 'here')\n"
              "assert inbox.bell(0.0) is True\n"
              "assert inbox.drain() == [('started', 3, 0, 'here')] and inbox.drain() == []\n"
              f"assert not [m for m in sys.modules if m.split('.')[0] in {blocked}]\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
