"""The strategy contract (archspace.testing.contracts) over every registered strategy."""

from __future__ import annotations

import pytest

from archspace.strategy import STRATEGIES, Random, Strategy
from archspace.testing import contracts

SETTINGS = {"grid": {"shuffle": True}, "evolution": {"population_size": 20, "sample_size": 5},
            "bananas": {"initial_steps": 30, "steps_per_fit": 3, "n_random": 10, "n_parents": 3, "hidden": 8},
            "gp": {"n_random": 10, "n_parents": 3, "refit_every": 20}}
CHECKS = [contracts.check_stays_in_space, contracts.check_reproducible, contracts.check_resume,
          contracts.check_parallel_asks_and_failures, contracts.check_told_samples_not_proposed]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", STRATEGIES.list())
def test_registered_strategy_honours_the_contract(name: str, check: object) -> None:
    check(lambda: STRATEGIES.create(name, **SETTINGS.get(name, {})))  # type: ignore[operator]


def test_the_contract_catches_a_broken_strategy() -> None:
    class Forgetful(Random):
        """Loses its generator state on restore: resumes differently."""

        def load_state_dict(self, state: object) -> None:
            self._load_state(state)  # type: ignore[arg-type]

    with pytest.raises(AssertionError, match="after restoring"):
        contracts.check_resume(lambda: Forgetful(dedup=False))

    class Repeater(Strategy):
        dedup = True

        def _propose(self) -> dict[str, object]:
            return self.space.default_sample()

    with pytest.raises(AssertionError, match="proposed twice"):
        contracts.check_parallel_asks_and_failures(Repeater)


@pytest.mark.parametrize("name", ["local_search", "bananas", "gp"])
def test_a_run_constraint_filters_every_proposal(name: str) -> None:
    strategy = STRATEGIES.create(name, **SETTINGS.get(name, {}))
    strategy.setup(contracts.contract_space(), seed=0, constraint=lambda s: s["op"] != "conv")
    for _ in range(30):
        sample = strategy.ask()
        assert sample is not None and sample["op"] != "conv"
        strategy.tell(sample, contracts.contract_objective(sample))
