"""The strategy protocol: strategies answer questions, they do not run anything.

An experiment calls ``setup(space, seed)`` once, then ``ask()`` for samples (possibly several
before any result comes back, so trials can run in parallel) and ``tell(sample, result)`` with a
metric, or ``None`` for a failed trial. In a multi-objective search ``setup`` gets the declared
objectives instead of one direction and ``tell`` gets one value per objective; strategies that can
search for a Pareto front say so with ``supports_multi_objective``. ``state_dict()`` captures
everything needed to continue exactly where the strategy stopped; the experiment checkpoints it
after every ask and tell.
"""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from archspace.errors import ArchspaceError, SpaceDefinitionError
from archspace.objectives import Objective, parse_objectives
from archspace.registry import Registry
from archspace.space.samples import Sample, fingerprint
from archspace.space.search_space import SearchSpace

logger = logging.getLogger("archspace.strategy")

SampleFilter = Callable[[Sample], bool]
#: What a strategy is told: one metric, one value per declared objective, or None (failed).
Result = float | Sequence[float] | None


class StrategyError(ArchspaceError, RuntimeError):
    """A strategy was used out of order, or its filter rejects everything."""


def rng_state(rng: random.Random) -> list[Any]:
    """A JSON-ready form of a ``random.Random`` state."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: list[Any]) -> None:
    """Restore a state made by :func:`rng_state`."""
    version, internal, gauss = state
    rng.setstate((version, tuple(internal), gauss))


#: Every multi-trial strategy by name; :mod:`archspace.strategy` registers the built-in ones (one
#: line each). It lives here so that the base class can name the strategies in its messages.
STRATEGIES: Registry[Strategy] = Registry("strategy", "strategies")


def pareto_strategies() -> list[str]:
    """The registered strategies that search for a Pareto front (``supports_multi_objective``), in
    registration order: messages list them from the registry, so a new one needs no list kept by hand."""
    return [name for name in STRATEGIES.in_order() if getattr(STRATEGIES.get(name), "supports_multi_objective", False)]


class Strategy(ABC):
    """Base class of multi-trial strategies.

    Args:
        filter: a predicate on samples; a sample it rejects is never trained (e.g. a parameter
            limit: ``filter=lambda s: asp.count_params(space, s) < 1e6``).
        max_rejections: consecutive rejected samples after which the strategy gives up.
    """

    #: Registry name (for configs and the CLI).
    name: str = ""
    #: True when the strategy can search for a Pareto front (``setup`` with several objectives).
    supports_multi_objective: ClassVar[bool] = False

    def __init__(self, *, filter: SampleFilter | None = None, max_rejections: int = 10_000) -> None:
        self.filter = filter
        self.max_rejections = max_rejections
        self._space: SearchSpace | None = None
        self._constraint: SampleFilter | None = None
        self.rng = random.Random(0)
        self._seen: set[str] = set()

    # Lifecycle ---------------------------------------------------------------------------------
    def setup(self, space: SearchSpace, seed: int | None = None,
              direction: str | Sequence[Objective] = "maximize", *, constraint: SampleFilter | None = None) -> None:
        """Start a run on ``space`` with a seeded generator (clears any previous run state).

        ``direction`` says whether larger metrics are better (``"maximize"``) or smaller; for a
        multi-objective search it is the sequence of declared :class:`~archspace.objectives.Objective`
        (then every result told is one value per objective, in that order). ``constraint``: a
        filter of this run on top of the strategy's own :attr:`filter` (an experiment's hardware
        constraints), so the user's filter is never replaced.
        """
        if isinstance(direction, str):
            if direction not in ("maximize", "minimize"):
                raise StrategyError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
            objectives: tuple[Objective, ...] = (Objective("default", direction),)
        else:
            objectives = parse_objectives(list(direction))
        if len(objectives) > 1 and not self.supports_multi_objective:
            raise StrategyError(
                f"{type(self).__name__} optimises a single metric; for several objectives use a strategy that "
                f"searches for a Pareto front ({', '.join(pareto_strategies())})"
            )
        self.objectives = objectives
        direction = objectives[0].direction
        self._space = space
        self._constraint = constraint
        self.seed = seed
        self.direction = direction
        self.rng = random.Random(seed)
        self._seen = set()
        try:
            self.space_size: int | None = space.size()
        except SpaceDefinitionError:  # too many controlling decisions to count: unbounded here
            self.space_size = None
        self._setup()

    @property
    def multi_objective(self) -> bool:
        """True when the run declared several objectives."""
        return len(getattr(self, "objectives", ())) > 1

    def score(self, result: Result) -> float | None:
        """``result`` turned so that larger is better (None stays None); single objective only."""
        if result is None:
            return None
        if not isinstance(result, (int, float)):
            raise StrategyError(f"{type(self).__name__}.score takes one metric, got {result!r}")
        return float(result) if self.direction == "maximize" else -float(result)

    def _check_result(self, result: Result) -> Result:
        """A told result in the run's shape: a float, a tuple with one value per objective, or None."""
        if result is None:
            return None
        if self.multi_objective:
            if isinstance(result, (int, float)) or len(result) != len(self.objectives):
                raise StrategyError(f"{type(self).__name__} searches {len(self.objectives)} objectives "
                                    f"{[o.name for o in self.objectives]}; it was told {result!r}")
            return tuple(float(v) for v in result)
        if not isinstance(result, (int, float)):
            if len(result) != 1:
                raise StrategyError(f"{type(self).__name__} searches one metric; it was told {result!r}")
            return float(result[0])
        return float(result)

    @property
    def space(self) -> SearchSpace:
        """The space of the current run."""
        if self._space is None:
            raise StrategyError(f"{type(self).__name__} has no space yet: call setup(space, seed) first")
        return self._space

    def ask(self) -> Sample | None:
        """The next sample to try, or None when the strategy has nothing more to propose."""
        _ = self.space  # refuse to run before setup()
        for _ in range(self.max_rejections):
            sample = self._propose()
            if sample is None:
                return None
            if (self.filter is None or self.filter(sample)) and (self._constraint is None or self._constraint(sample)):
                return sample
            self._rejected(sample)
        raise StrategyError(
            f"{type(self).__name__}: the filter rejected {self.max_rejections} samples in a row; "
            "loosen it or raise max_rejections"
        )

    def tell(self, sample: Mapping[str, Any], result: Result, *, partial: bool = False) -> None:
        """Report the metric of ``sample`` (one value per objective in a multi-objective run;
        ``None``: the trial failed).

        ``partial=True``: a scheduler stopped the trial early and ``result`` is its last
        intermediate value, not a final one (see :meth:`_observe_partial`).
        """
        _ = self.space
        # A sample told without being asked (an experiment's enqueued or proxy-picked trials) is
        # tried: strategies that never propose a sample twice must not propose it either.
        self._seen.add(fingerprint(dict(sample)))
        if partial:
            self._observe_partial(dict(sample), self._check_result(result))
        else:
            self._observe(dict(sample), self._check_result(result))

    # State ---------------------------------------------------------------------------------------
    def state_dict(self, *, with_seen: bool = True) -> dict[str, Any]:
        """Everything needed to continue this run exactly (JSON data).

        ``with_seen=False`` leaves out the fingerprints of the samples already proposed, which grow
        with every trial: an experiment checkpoints the strategy after every ask and tell, and it
        can rebuild that set from its recorded trials (``load_state_dict(state, seen=...)``), so
        its per-trial cost stays flat however long the run.
        """
        state = {"rng": rng_state(self.rng), **self._state()}
        if with_seen:
            state["seen"] = sorted(self._seen)
        return state

    def load_state_dict(self, state: Mapping[str, Any], *, seen: Iterable[str] | None = None) -> None:
        """Continue a run from :meth:`state_dict` (after ``setup`` with the same space).

        Args:
            state: what :meth:`state_dict` returned.
            seen: fingerprints of the samples already proposed, for a state saved ``with_seen=False``.
        """
        set_rng_state(self.rng, state["rng"])
        self._seen = set(state["seen"]) if state.get("seen") is not None else set(seen or ())
        self._load_state(state)

    # Hooks for subclasses ----------------------------------------------------------------------
    def _setup(self) -> None:
        """Reset run state for a new run (``self.space`` and ``self.rng`` are set)."""

    @abstractmethod
    def _propose(self) -> Sample | None:
        """A candidate sample (before the filter), or None when done."""

    def _rejected(self, sample: Sample) -> None:
        """The filter rejected ``sample`` (default: nothing to remember)."""

    def _observe(self, sample: Sample, result: Any) -> None:
        """Learn from a result: a float, a tuple (multi-objective) or None (default: nothing to learn)."""

    def _observe_partial(self, sample: Sample, result: Any) -> None:
        """Learn from a trial a scheduler stopped early; ``result`` is its last reported value.

        Default: learn from it as from a final result (:meth:`_observe`). A scheduler stops a
        trial because its curve was behind its peers' at the same step, and a value from part way
        through training understates the final one, so the trial ranks among the poor ones, which
        is what the scheduler found. What the built-in strategies do with it: ``random`` and
        ``grid`` learn from no result; ``evolution`` adds the trial to its population with its
        partial value (a weak member, rarely a parent, that ages out); ``tpe`` counts it as an
        observation with its partial value (it falls in the "worse" group of the Parzen split);
        ``rl`` rewards the controller with it (below the baseline, so the policy moves away).
        Override to do otherwise, e.g. ``self._observe(sample, None)`` to treat it as a failure.
        """
        self._observe(sample, result)

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`_state` returned."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


__all__ = ["STRATEGIES", "pareto_strategies", "Result", "SampleFilter", "Strategy", "StrategyError", "rng_state", "set_rng_state"]
