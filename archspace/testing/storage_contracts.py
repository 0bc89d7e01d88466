"""Contract checks every experiment store must pass (also for your own :class:`~archspace.storage.Storage`).

Why: the driver, the CLI, the doctor and the dashboard rely on what a store promises, not on how
SQLite keeps it: a result recorded is read back as it was written (made safe where it was not
JSON), statuses move as the driver moves them, ids are distinct however trials are created, a
persistent store reopens with everything in it. Each check below states one such promise, and the
test suite runs every check over every built-in store (:data:`STORAGE_BACKENDS`). For a store of
your own::

    from archspace.testing.storage_contracts import StorageBackend, check_storage
    check_storage(StorageBackend("mine", lambda directory: MyStorage(directory), persistent=True), tmp_path)

Each check takes the backend and an empty directory of its own, and raises ``AssertionError``
with a message on failure.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archspace.storage import (
    FINISHED,
    MAX_STEP,
    MAX_TEXT,
    InMemoryStorage,
    SQLiteStorage,
    Storage,
    StorageError,
    TrialStatus,
    open_storage,
    safe_json,
    safe_text,
)


@dataclass(frozen=True)
class StorageBackend:
    """How the contract opens one kind of store.

    Attributes:
        name: shown in test ids and messages.
        open: opens the store kept in a directory; called again with the same directory it must
            open the same store when ``persistent``, and may ignore the directory otherwise.
        persistent: what one handle wrote, a handle opened later on the same directory reads
            (after the first is closed, or alongside it).
        shared_across_threads: one handle may be used from several threads at once.
    """

    name: str
    open: Callable[[Path], Storage]
    persistent: bool = False
    shared_across_threads: bool = False


#: The built-in stores: SQLite on a file, SQLite in memory, and the pure-Python in-memory store.
STORAGE_BACKENDS: tuple[StorageBackend, ...] = (
    StorageBackend("sqlite-file", lambda directory: open_storage(directory), persistent=True),
    StorageBackend("sqlite-memory", lambda directory: SQLiteStorage(":memory:")),
    StorageBackend("in-memory", lambda directory: InMemoryStorage(), shared_across_threads=True),
)

_FINAL = [TrialStatus(s) for s in FINISHED]


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@contextmanager
def _opened(backend: StorageBackend, directory: Path) -> Iterator[Storage]:
    """The backend's store, closed after the check whatever happens."""
    store = backend.open(directory)
    try:
        yield store
    finally:
        store.close()


def _raises(kind: type[Exception], call: Callable[[], object], backend: StorageBackend, what: str) -> Exception:
    """The ``kind`` error ``call`` raised; AssertionError naming ``what`` was accepted when it raised none."""
    try:
        call()
    except kind as exc:
        return exc
    raise AssertionError(f"{backend.name}: {what} was accepted, no {kind.__name__} raised")


def _ids(store: Storage, status: TrialStatus | str | None = None) -> list[int]:
    return [t.id for t in store.trials(status)]


def check_config(backend: StorageBackend, directory: Path) -> None:
    """An empty store has no config; the config reads back as its JSON round trip; a new one replaces it."""
    with _opened(backend, directory) as store:
        assert store.get_config() is None, f"{backend.name}: a new store has a config"
        config = {"space": "pkg.Space", "seed": 3, "shape": (1, 3), "nested": {"a": [1.5, None, True]}}
        store.set_config(config)
        assert store.get_config() == _json(config), f"{backend.name}: config read back as {store.get_config()}"
        store.set_config({"space": "other"})
        assert store.get_config() == {"space": "other"}, f"{backend.name}: set_config does not replace"


def check_create_and_read(backend: StorageBackend, directory: Path) -> None:
    """New trials are queued, numbered 0, 1, 2, ... and read back as created; records are copies."""
    with _opened(backend, directory) as store:
        samples: list[dict[str, Any]] = [{"op": "conv", "k": 3}, {"b": [0, 2], "a": (1, 2)}, {}]
        ids = [store.create_trial(s, None) for s in samples]
        assert ids == [0, 1, 2], f"{backend.name}: ids {ids}, expected 0, 1, 2"
        records = store.trials()
        assert [r.id for r in records] == ids and store.bad_rows == []
        for record, sample in zip(records, samples):
            assert record.sample == _json(sample), f"{backend.name}: sample {sample} read back as {record.sample}"
            assert record.status is TrialStatus.QUEUED and not record.finished
            assert (record.metric, record.metrics, record.intermediates, record.error, record.worker) == (
                None, {}, [], None, None), f"{backend.name}: a new trial carries results: {record}"
            assert isinstance(record.queued_at, float) and record.started_at is None and record.ended_at is None
            assert store.trial(record.id) == record, f"{backend.name}: trial() and trials() disagree"
        records[0].sample["op"] = "changed"
        records[0].metrics["x"] = 1
        again = store.trial(0)
        assert again.sample == samples[0] and again.metrics == {}, f"{backend.name}: a record shares state with the store"


def check_status_transitions(backend: StorageBackend, directory: Path) -> None:
    """queued -> running (worker, start time) -> each final status (end time); statuses filter by enum or name."""
    with _opened(backend, directory) as store:
        ids = [store.create_trial({"i": i}, None) for i in range(len(_FINAL) + 1)]
        for trial_id in ids:
            store.start_trial(trial_id, f"worker-{trial_id}")
        running = store.trial(ids[0])
        assert running.status is TrialStatus.RUNNING and running.worker == "worker-0"
        assert running.started_at is not None and running.ended_at is None and running.duration is None
        for trial_id, status in zip(ids, _FINAL):
            store.finish_trial(trial_id, status.value if trial_id % 2 else status, 1.0, None, None)
            record = store.trial(trial_id)
            assert record.status is status and record.finished, f"{backend.name}: {status} read back as {record.status}"
            assert record.ended_at is not None and record.duration is not None and record.duration >= 0
            assert record.worker == f"worker-{trial_id}", f"{backend.name}: finishing lost the worker"
        for status in TrialStatus:
            wanted = [t for t in ids if store.trial(t).status is status]
            assert _ids(store, status) == wanted and _ids(store, status.value) == wanted, (
                f"{backend.name}: trials({status.value!r}) is {_ids(store, status)}, expected {wanted}")
        last = ids[-1]
        exc = _raises(StorageError, lambda: store.finish_trial(last, "done", None, None, None), backend, "status 'done'")
        assert "done" in str(exc), f"{backend.name}: the error does not name the status: {exc}"
        assert store.trial(last).status is TrialStatus.RUNNING, f"{backend.name}: a refused status was written"
        _raises(StorageError, lambda: store.trials("done"), backend, "trials('done')")


def check_intermediates(backend: StorageBackend, directory: Path) -> None:
    """Reports read back by step; bad steps and values raise ValueError and write nothing."""
    with _opened(backend, directory) as store:
        trial_id = store.create_trial({"x": 1}, None)
        store.start_trial(trial_id, "w")
        for step, value in [(3, 0.3), (1, 1), (2, 0.2), (MAX_STEP, -5.0), (0, 0.0)]:
            store.add_intermediate(trial_id, step, value)
        got = store.trial(trial_id).intermediates
        assert got == [(0, 0.0), (1, 1.0), (2, 0.2), (3, 0.3), (MAX_STEP, -5.0)], f"{backend.name}: {got}"
        assert all(isinstance(v, float) and isinstance(s, int) for s, v in got)
        bad: list[tuple[Any, Any]] = [(-1, 1.0), (True, 1.0), (1.5, 1.0), (MAX_STEP + 1, 1.0), ("3", 1.0),
                                      (4, math.nan), (4, math.inf), (4, True), (4, "0.5"), (4, None)]
        for step, value in bad:
            _raises(ValueError, lambda: store.add_intermediate(trial_id, step, value), backend,  # noqa: B023
                    f"report of step {step!r}, value {value!r}")
        assert store.trial(trial_id).intermediates == got, f"{backend.name}: a refused report was written"
        assert store.trials()[0].intermediates == got, f"{backend.name}: trials() and trial() disagree on reports"


def check_finish_with_metrics(backend: StorageBackend, directory: Path) -> None:
    """The metric reads back as a float (NaN as None), metrics as their JSON, the error as given."""
    with _opened(backend, directory) as store:
        ids = [store.create_trial({"i": i}, None) for i in range(5)]
        metrics = {"default": 0.5, "loss": [0.3, 0.2], "meta": {"epochs": 2, "ok": True, "note": None}}
        store.finish_trial(ids[0], "succeeded", 0.5, metrics, None)
        store.finish_trial(ids[1], "succeeded", 2, None, None)
        store.finish_trial(ids[2], "failed", None, None, "Traceback: boom")
        store.finish_trial(ids[3], "succeeded", math.nan, {}, None)
        store.finish_trial(ids[4], "succeeded", -math.inf, None, None)
        first, second, third, fourth, fifth = (store.trial(i) for i in ids)
        assert (first.metric, first.metrics) == (0.5, metrics), f"{backend.name}: {first.metric}, {first.metrics}"
        assert second.metric == 2.0 and isinstance(second.metric, float) and second.metrics == {}
        assert (third.metric, third.error, third.status) == (None, "Traceback: boom", TrialStatus.FAILED)
        assert fourth.metric is None and fourth.metrics == {}, f"{backend.name}: a NaN metric read back as {fourth.metric}"
        assert fifth.metric == -math.inf, f"{backend.name}: -inf read back as {fifth.metric}"


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr raised")


def check_sanitising(backend: StorageBackend, directory: Path) -> None:
    """Whatever user code hands back is stored, made safe: texts escaped and capped, metrics as plain JSON."""
    with _opened(backend, directory) as store:
        ids = [store.create_trial({"i": i}, None) for i in range(3)]
        error = "bad file \udce9 and a NUL \x00 here"
        deep: dict[str, Any] = {}
        node = deep
        for _ in range(40):
            node["d"] = {}
            node = node["d"]
        metrics: dict[Any, Any] = {"nan": math.nan, "inf": math.inf, "big": 2**70, "obj": object(), "bad": _BadRepr(),
                   "text": "a\udce9b\x00", "deep": deep, 7: "int key", "tuple": (1, 2)}
        store.finish_trial(ids[0], "failed", None, metrics, error)
        record = store.trial(ids[0])
        assert record.error is not None and record.error == safe_text(error), f"{backend.name}: {record.error!r}"
        assert "\x00" not in record.error, f"{backend.name}: a NUL byte was stored"
        record.error.encode("utf-8")  # no lone surrogate left
        assert record.metrics == json.loads(safe_json(metrics)), f"{backend.name}: metrics read back as {record.metrics}"
        long = "x" * (MAX_TEXT + 10)
        store.finish_trial(ids[1], "failed", None, None, long)
        cut = store.trial(ids[1]).error
        assert cut == safe_text(long) and cut is not None and len(cut) < len(long) + 50, f"{backend.name}: not capped"
        store.finish_trial(ids[2], "failed", None, None, _BadRepr())  # type: ignore[arg-type]
        assert store.trial(ids[2]).error == safe_text(_BadRepr()), f"{backend.name}: an error whose repr raises"


def check_interrupt_and_requeue(backend: StorageBackend, directory: Path) -> None:
    """Only queued/running trials are interrupted; requeueing resets every unfinished one (reports
    dropped, worker and times cleared) and leaves finished ones alone."""
    with _opened(backend, directory) as store:
        queued, running, done, interrupted = (store.create_trial({"i": i}, None) for i in range(4))
        for trial_id in (running, done, interrupted):
            store.start_trial(trial_id, "w")
            store.add_intermediate(trial_id, 0, 1.0)
        store.finish_trial(done, "succeeded", 1.0, None, None)
        store.mark_interrupted([interrupted])
        assert store.trial(interrupted).status is TrialStatus.INTERRUPTED and store.trial(interrupted).ended_at
        store.mark_interrupted([queued, running, done])
        assert [store.trial(i).status for i in (queued, running, done)] == [
            TrialStatus.INTERRUPTED, TrialStatus.INTERRUPTED, TrialStatus.SUCCEEDED], (
            f"{backend.name}: mark_interrupted touched a finished trial")
        store.save_strategy({"s": 1}, [done, running])
        assert store.requeue_unfinished() == [queued, running, interrupted]
        for trial_id in (queued, running, interrupted):
            record = store.trial(trial_id)
            assert record.status is TrialStatus.QUEUED, f"{backend.name}: trial {trial_id} is {record.status}"
            assert (record.worker, record.started_at, record.ended_at, record.intermediates) == (None, None, None, [])
        finished = store.trial(done)
        assert finished.status is TrialStatus.SUCCEEDED and finished.intermediates == [(0, 1.0)]
        assert store.load_strategy()[1] == [running, done], f"{backend.name}: requeueing forgot told trials"
        assert store.requeue_unfinished() == [queued, running, interrupted]
        assert store.trials(TrialStatus.INTERRUPTED) == []


def check_strategy_state(backend: StorageBackend, directory: Path) -> None:
    """No checkpoint at first; the last state reads back as its JSON; told ids accumulate, sorted."""
    with _opened(backend, directory) as store:
        assert store.load_strategy() == (None, []), f"{backend.name}: a new store has a checkpoint"
        state = {"rng": [1, 2, 3], "history": [{"sample": {"a": (0, 1)}, "metric": 0.5}], "gen": 0}
        first = store.create_trial({"a": 0}, state)
        assert store.load_strategy() == (_json(state), []), f"{backend.name}: create_trial did not save the state"
        second = store.create_trial({"a": 1}, None)
        assert store.load_strategy()[0] == _json(state), f"{backend.name}: create_trial(None) dropped the state"
        third = store.create_trial({"a": 2}, {"gen": 1})
        store.save_strategy({"gen": 2}, [third])
        store.save_strategy({"gen": 3}, [first])
        assert store.load_strategy() == ({"gen": 3}, [first, third]), f"{backend.name}: {store.load_strategy()}"
        store.save_strategy({"gen": 4}, [])
        assert store.load_strategy() == ({"gen": 4}, [first, third])
        assert second not in store.load_strategy()[1]


def check_epochs(backend: StorageBackend, directory: Path) -> None:
    """One-shot epochs read back in order with their number; a re-run epoch replaces the earlier record."""
    with _opened(backend, directory) as store:
        assert store.epochs() == []
        store.add_epoch(1, {"loss": 0.5, "sample": {"a": (1,)}})
        store.add_epoch(0, {"loss": 0.9})
        store.add_epoch(1, {"loss": 0.4})
        assert store.epochs() == [{"loss": 0.9, "epoch": 0}, {"loss": 0.4, "epoch": 1}], f"{backend.name}: {store.epochs()}"


def check_ordering(backend: StorageBackend, directory: Path) -> None:
    """Trials list by id whatever order they start and finish in, for every status filter."""
    with _opened(backend, directory) as store:
        ids = [store.create_trial({"i": i}, None) for i in range(8)]
        for trial_id in reversed(ids):
            store.start_trial(trial_id, "w")
        for trial_id in (6, 1, 4, 3):
            store.finish_trial(trial_id, "succeeded", float(trial_id), None, None)
        assert _ids(store) == ids, f"{backend.name}: trials() lists {_ids(store)}"
        assert _ids(store, "succeeded") == [1, 3, 4, 6] and _ids(store, "running") == [0, 2, 5, 7]


def check_unknown_ids(backend: StorageBackend, directory: Path) -> None:
    """Reading an unknown trial, or reporting for one, raises StorageError; no write creates a trial."""
    with _opened(backend, directory) as store:
        store.create_trial({"a": 1}, None)
        for trial_id in (1, 99, -1):
            _raises(StorageError, lambda: store.trial(trial_id), backend, f"reading unknown trial {trial_id}")  # noqa: B023
            _raises(StorageError, lambda: store.add_intermediate(trial_id, 0, 1.0), backend,  # noqa: B023
                    f"a report for unknown trial {trial_id}")
        store.start_trial(99, "w")
        store.finish_trial(99, "succeeded", 1.0, None, None)
        store.mark_interrupted([99])
        assert _ids(store) == [0] and store.trial(0).status is TrialStatus.QUEUED, f"{backend.name}: {store.trials()}"


def check_concurrent_ids(backend: StorageBackend, directory: Path, threads: int = 4, each: int = 25) -> None:
    """Trials created at once (threads sharing a handle, or each with its own handle on a
    persistent store) get distinct ids, 0 to n - 1, each holding its own sample."""
    first = backend.open(directory)
    if not (backend.shared_across_threads or backend.persistent):
        first.close()
        return
    errors: list[BaseException] = []

    def create(worker: int) -> None:
        store = first if backend.shared_across_threads else backend.open(directory)
        try:
            for i in range(each):
                trial_id = store.create_trial({"worker": worker, "i": i}, None)
                store.start_trial(trial_id, f"w{worker}")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            if store is not first:
                store.close()

    try:
        workers = [threading.Thread(target=create, args=(w,)) for w in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        assert not errors, f"{backend.name}: creating trials at once failed: {errors[0]!r}"
        records = first.trials()
        assert [r.id for r in records] == list(range(threads * each)), f"{backend.name}: ids {[r.id for r in records]}"
        made = sorted((r.sample["worker"], r.sample["i"]) for r in records)
        assert made == [(w, i) for w in range(threads) for i in range(each)], f"{backend.name}: samples lost or doubled"
        assert all(r.worker == f"w{r.sample['worker']}" for r in records), f"{backend.name}: a start went to another trial"
    finally:
        first.close()


def check_reopen(backend: StorageBackend, directory: Path) -> None:
    """A persistent store, closed (after a flush) and opened again, holds everything, and numbers on."""
    if not backend.persistent:
        return
    store = backend.open(directory)
    store.set_config({"space": "S"})
    ids = [store.create_trial({"i": i}, {"n": i}) for i in range(3)]
    store.start_trial(ids[0], "w")
    store.add_intermediate(ids[0], 1, 0.5)
    store.finish_trial(ids[0], "succeeded", 0.5, {"loss": 1.0}, None)
    store.finish_trial(ids[1], "failed", None, None, "boom")
    store.save_strategy({"n": 9}, [ids[0], ids[1]])
    store.add_epoch(0, {"loss": 1.0})
    before = [r.to_json() for r in store.trials()]
    store.flush()
    assert [r.to_json() for r in store.trials()] == before, f"{backend.name}: flush changed what is read"
    store.close()
    again = backend.open(directory)
    try:
        assert again.get_config() == {"space": "S"}
        assert [r.to_json() for r in again.trials()] == before, f"{backend.name}: trials changed on reopening"
        assert again.load_strategy() == ({"n": 9}, [0, 1]) and again.epochs() == [{"loss": 1.0, "epoch": 0}]
        assert again.create_trial({"i": 3}, None) == 3, f"{backend.name}: ids restart after reopening"
    finally:
        again.close()


def check_close(backend: StorageBackend, directory: Path) -> None:
    """Closing twice is harmless; a write after closing raises StorageError, never a backend's own error."""
    store = backend.open(directory)
    store.create_trial({"a": 1}, None)
    store.close()
    store.close()
    _raises(StorageError, lambda: store.create_trial({"a": 2}, None), backend, "a trial created on a closed store")


#: Every check, in the order :func:`check_storage` runs them (parametrize over it for one test per check).
STORAGE_CHECKS: tuple[Callable[[StorageBackend, Path], None], ...] = (
    check_config, check_create_and_read, check_status_transitions, check_intermediates, check_finish_with_metrics,
    check_sanitising, check_interrupt_and_requeue, check_strategy_state, check_epochs, check_ordering,
    check_unknown_ids, check_concurrent_ids, check_reopen, check_close,
)


def check_storage(backend: StorageBackend, directory: Path) -> None:
    """Run every contract check on ``backend``, each in its own sub-directory of ``directory``."""
    for check in STORAGE_CHECKS:
        check(backend, Path(directory) / check.__name__)


__all__ = ["STORAGE_BACKENDS", "STORAGE_CHECKS", "StorageBackend", "check_close", "check_concurrent_ids",
           "check_config", "check_create_and_read", "check_epochs", "check_finish_with_metrics",
           "check_interrupt_and_requeue", "check_intermediates", "check_ordering", "check_reopen", "check_sanitising",
           "check_status_transitions", "check_storage", "check_strategy_state", "check_unknown_ids"]
