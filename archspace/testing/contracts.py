"""Contract checks every multi-trial strategy must pass (also for your own strategies).

Each function raises ``AssertionError`` with a message on failure. The test suite runs them over
every registered strategy; call them from your own tests for a custom one::

    from archspace.testing.contracts import check_strategy
    check_strategy(lambda: MyStrategy(...))
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from archspace.space import Categorical, Condition, SearchSpace
from archspace.space.samples import fingerprint
from archspace.strategy.base import Strategy

StrategyFactory = Callable[[], Strategy]


def contract_space() -> SearchSpace:
    """A small conditional space (3,600 samples): nested decisions under 'op' and 'depth'."""
    decisions = {
        "a": Categorical([0, 1, 2, 3, 4], "a"),
        "b": Categorical([0, 1, 2, 3], "b"),
        "op": Categorical(["conv", "pool", "skip"], "op"),
        "k": Categorical([1, 3, 5, 7], "k"),
        "depth": Categorical([1, 2, 3], "depth"),
        "d2": Categorical([0, 1, 2, 3], "d2"),
        "d3": Categorical([0, 1, 2, 3], "d3"),
        "c": Categorical([[0, 1], [0, 2], [1, 2]], "c"),
    }
    conditions = {
        "k": Condition.always().require("op", ["conv"]),
        "d2": Condition.always().require("depth", [2, 3]),
        "d3": Condition.always().require("depth", [3]),
    }
    return SearchSpace(decisions, conditions)


def contract_objective(sample: dict[str, Any]) -> float:
    """A deterministic objective over :func:`contract_space` samples."""
    score = sample["a"] + 0.8 * sample["b"] + (2.0 - abs(sample.get("k", 9) - 5) * 0.5 if sample["op"] == "conv" else 0)
    return score + sample["depth"] * 0.5 - abs(sample.get("d2", 2) - 2) * 0.4 + sample["c"][0]


def _run(strategy: Strategy, asks: int, *, tell: bool = True) -> list[dict[str, Any]]:
    out = []
    for _ in range(asks):
        sample = strategy.ask()
        if sample is None:
            break
        out.append(sample)
        if tell:
            strategy.tell(sample, contract_objective(sample))
    return out


def check_stays_in_space(factory: StrategyFactory, asks: int = 60) -> None:
    """Every proposal is a valid, normalised sample: all active decisions, no inactive ones."""
    space = contract_space()
    strategy = factory()
    strategy.setup(space, seed=0)
    for sample in _run(strategy, asks):
        assert space.validate(sample) == sample, f"{strategy!r} proposed {sample}, not a normalised sample"


def check_reproducible(factory: StrategyFactory, asks: int = 40) -> None:
    """Equal seeds give equal runs; different seeds give different ones."""
    runs = []
    for seed in (3, 3, 4):
        strategy = factory()
        strategy.setup(contract_space(), seed=seed)
        runs.append(_run(strategy, asks))
    assert runs[0] == runs[1], "the same seed gave different proposals"
    assert runs[0] != runs[2], "different seeds gave identical proposals"


def check_resume(factory: StrategyFactory, before: int = 23, after: int = 15) -> None:
    """A strategy restored from a JSON checkpoint, with an ask still in flight, continues exactly."""
    def fresh() -> Strategy:
        strategy = factory()
        strategy.setup(contract_space(), seed=5)
        return strategy

    reference = fresh()
    _run(reference, before)
    pending = reference.ask()
    assert pending is not None
    state = json.loads(json.dumps(reference.state_dict()))
    restored = fresh()
    restored.load_state_dict(state)
    for strategy in (reference, restored):
        strategy.tell(pending, contract_objective(pending))
    for step in range(after):
        a, b = reference.ask(), restored.ask()
        assert a == b, f"after restoring, proposal {step} differs: {a} vs {b}"
        if a is None:
            break
        reference.tell(a, contract_objective(a))
        restored.tell(b, contract_objective(b))  # type: ignore[arg-type]


def check_parallel_asks_and_failures(factory: StrategyFactory, steps: int = 80, in_flight: int = 4) -> None:
    """Several asks in flight, told out of order and sometimes as failures; no repeats when the
    strategy offers ``dedup`` and has it on."""
    space = contract_space()
    strategy = factory()
    strategy.setup(space, seed=1)
    dedup = bool(getattr(strategy, "dedup", False))
    seen: set[str] = set()
    waiting: list[dict[str, Any]] = []
    for step in range(steps):
        while len(waiting) < in_flight:
            sample = strategy.ask()
            assert sample is not None, "the strategy stopped early on a 3,600-sample space"
            assert space.validate(sample) == sample
            key = fingerprint(sample)
            assert not (dedup and key in seen), f"dedup is on but {sample} was proposed twice"
            seen.add(key)
            waiting.append(sample)
        done = waiting.pop(step % len(waiting))
        strategy.tell(done, None if step % 7 == 0 else contract_objective(done))


def check_told_samples_not_proposed(factory: StrategyFactory, told: int = 20, asks: int = 60) -> None:
    """Samples the strategy never proposed but was told (an experiment's enqueued trials, a proxy
    warm start) are never proposed afterwards when the strategy offers ``dedup`` and has it on."""
    space = contract_space()
    strategy = factory()
    strategy.setup(space, seed=2)
    if not getattr(strategy, "dedup", False):
        return
    rng = random.Random(7)
    given = [space.random_sample(rng) for _ in range(told)]
    for sample in given:
        strategy.tell(sample, contract_objective(sample))
    keys = {fingerprint(s) for s in given}
    for sample in _run(strategy, asks):
        assert fingerprint(sample) not in keys, f"{strategy!r} proposed {sample}, which it had been told already"


def check_strategy(factory: StrategyFactory) -> None:
    """Run every contract check on strategies made by ``factory``."""
    check_stays_in_space(factory)
    check_reproducible(factory)
    check_told_samples_not_proposed(factory)
    check_resume(factory)
    check_parallel_asks_and_failures(factory)


__all__ = ["check_parallel_asks_and_failures", "check_reproducible", "check_resume", "check_stays_in_space",
           "check_strategy", "contract_objective", "contract_space"]
