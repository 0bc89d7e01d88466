"""Tree-structured Parzen Estimator (Bergstra et al., NeurIPS 2011), through Optuna's sampler.

Optuna's ``TPESampler`` is a well-kept implementation with the multivariate and "group"
extensions that handle conditional spaces (decisions that only exist under some parent values):
each decision is suggested only while active, exactly as our conditions say. Parallel asks use
the sampler's constant-liar mode. Decisions are suggested by candidate index, so any JSON value
(lists included) works.

Resume without private state: the sampler is re-seeded before every ask from (seed, ask count),
and the strategy state is the list of trials the study has seen; restoring rebuilds an identical
study with ``add_trial``, so a restored strategy proposes exactly what an uninterrupted one would.
Repeated samples (TPE proposes some on small spaces) are answered from what is already known and
asked again, so no trial is spent twice (``dedup``).

Samples the filter refuses (a parameter limit, an experiment's hardware constraint, a benchmark's
tabulated subset) are told to the study as *infeasible* trials (Optuna's constraint handling:
``Trial.set_constraint``), which TPE places in its "bad" group. Told as failed instead, they would
leave no trace in the model, so TPE would keep proposing the same refused region: on a filter
that accepts 1 sample in 8 that cost ~7 study trials per accepted proposal.

Several objectives: the study becomes an Optuna multi-objective study (``directions=[...]``), for
which ``TPESampler`` is MOTPE (Ozaki et al., GECCO 2020: the "good" group is chosen by
non-domination rank and hypervolume contribution instead of a quantile of one metric).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from archspace.space.samples import Sample, fingerprint
from archspace.strategy.base import SampleFilter, Strategy

_RETRIES = 30
#: what ``_known`` holds for a sample the filter refused (``None`` is a failed trial)
_REFUSED = "refused"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("the TPE strategy needs Optuna: pip install 'archspace[tpe]'") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # `group` is marked experimental in Optuna; we rely on it deliberately for conditional spaces.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


class TPE(Strategy):
    """TPE over the space's categorical and conditional decisions (see the module docstring).

    Args:
        n_startup_trials: random trials before the model kicks in.
        n_ei_candidates: candidates scored per suggestion.
        multivariate, group: Optuna's joint and conditional-group modelling (both on by default).
        constant_liar: treat running trials as bad, so parallel asks spread out.
        dedup: never propose a sample twice.
        filter: see :class:`~archspace.strategy.Strategy`.
    """

    name = "tpe"
    supports_multi_objective = True

    def __init__(self, *, n_startup_trials: int = 10, n_ei_candidates: int = 24, multivariate: bool = True,
                 group: bool = True, constant_liar: bool = True, dedup: bool = True,
                 filter: SampleFilter | None = None) -> None:
        super().__init__(filter=filter)
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        self.group = group
        self.constant_liar = constant_liar
        self.dedup = dedup

    def _setup(self) -> None:
        optuna = _optuna()
        self._study = optuna.create_study(directions=[o.direction for o in self.objectives])
        self._history: list[dict[str, Any]] = []  # one entry per study trial, in order
        self._pending: dict[str, int] = {}  # fingerprint -> study trial number
        self._known: dict[str, Any] = {}  # fingerprint -> value, or values per objective (None: failed)
        self._live: dict[int, Any] = {}  # study trial number -> its optuna Trial, until told
        self._asks = 0

    def _sampler(self) -> Any:
        optuna = _optuna()
        seed = (self.seed or 0) * 1_000_003 + self._asks
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=self.n_startup_trials, n_ei_candidates=self.n_ei_candidates,
            multivariate=self.multivariate, group=self.group, constant_liar=self.constant_liar,
        )

    def _ask_study(self) -> tuple[Any, Sample, dict[str, int]]:
        self._study.sampler = self._sampler()
        self._asks += 1
        trial = self._study.ask()
        self._live[trial.number] = trial
        sample: Sample = {}
        params: dict[str, int] = {}
        for label, decision in self.space.items():
            if self.space.condition(label).holds(sample):
                index = trial.suggest_categorical(label, list(range(len(decision.values))))
                params[label] = index
                sample[label] = decision.values[index]
        return trial, sample, params

    def _propose(self) -> Sample | None:
        for _ in range(_RETRIES):
            trial, sample, params = self._ask_study()
            key = fingerprint(sample)
            entry: dict[str, Any] = {"params": params, "state": "running", "value": None}
            self._history.append(entry)
            if not self.dedup or (key not in self._known and key not in self._pending):
                self._pending[key] = trial.number
                return sample
            # A repeat: answer it from what we know (a pending twin counts as failed for now).
            value = self._known.get(key)
            self._finish(trial.number, entry, value)
        for _ in range(1000):  # the model keeps repeating itself: take an unseen random sample
            sample = self.space.random_sample(self.rng)
            key = fingerprint(sample)
            if key not in self._known and key not in self._pending:
                self._pending[key] = -1  # added to the study when its result arrives
                return sample
        return None

    def _finish(self, number: int, entry: dict[str, Any], value: Any) -> None:
        optuna = _optuna()
        trial = self._live.pop(number, None)
        if isinstance(value, str) and value == _REFUSED:
            if trial is None:  # pragma: no cover - every refused trial was asked by this study
                raise RuntimeError(f"TPE: study trial {number} was refused but is not live")
            trial.set_constraint("filter", 1.0)
            self._study.tell(trial, self._placeholder())
            entry.update(state="infeasible", value=None)
        elif value is None:
            self._study.tell(number, state=optuna.trial.TrialState.FAIL)
            entry.update(state="fail", value=None)
        else:
            value = list(value) if isinstance(value, (list, tuple)) else float(value)
            self._study.tell(number, value)
            entry.update(state="complete", value=value)

    def _placeholder(self) -> Any:
        """The value an infeasible trial carries: TPE ranks infeasible trials by their violation,
        never by value, but Optuna needs one per objective to complete a trial."""
        return 0.0 if len(self.objectives) == 1 else [0.0] * len(self.objectives)

    def _rejected(self, sample: Sample) -> None:
        # The filter refused it: close its study trial as infeasible (TPE learns to avoid the
        # region; the liar forgets it), and keep it known so it is not proposed again.
        key = fingerprint(sample)
        number = self._pending.pop(key, None)
        self._known[key] = _REFUSED
        if number is not None and number >= 0:
            self._finish(number, self._history[number], _REFUSED)

    def _observe(self, sample: Sample, result: Any) -> None:
        key = fingerprint(sample)
        number = self._pending.pop(key, None)
        self._known[key] = result
        if number is None:
            return  # not proposed by this run (e.g. enqueued by the user): nothing to update
        if number == -1:
            params = {label: [fingerprint({"v": v}) for v in self.space[label].values].index(fingerprint({"v": sample[label]}))
                      for label in sample}
            entry = {"params": params, "state": "running", "value": None}
            self._history.append(entry)
            self._add(entry)
            number = len(self._study.get_trials(deepcopy=False)) - 1
        self._finish(number, self._history[number], result)

    def _add(self, entry: Mapping[str, Any]) -> None:
        optuna = _optuna()
        distributions = {label: optuna.distributions.CategoricalDistribution(list(range(len(self.space[label].values))))
                         for label in entry["params"]}
        state = {"running": optuna.trial.TrialState.RUNNING, "fail": optuna.trial.TrialState.FAIL,
                 "complete": optuna.trial.TrialState.COMPLETE,
                 "infeasible": optuna.trial.TrialState.COMPLETE}[entry["state"]]
        infeasible = entry["state"] == "infeasible"
        value: Any = self._placeholder() if infeasible else entry["value"] if entry["state"] == "complete" else None
        several = isinstance(value, (list, tuple))
        self._study.add_trial(optuna.trial.create_trial(
            params=dict(entry["params"]), distributions=distributions, state=state,
            value=None if several else value, values=list(value) if several else None,
            constraints={"filter": 1.0} if infeasible else None))

    def _state(self) -> dict[str, Any]:
        return {"history": self._history, "pending": self._pending, "known": self._known, "asks": self._asks}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._setup()
        for entry in state["history"]:
            entry = dict(entry)
            self._history.append(entry)
            self._add(entry)
        self._pending = {k: int(v) for k, v in state["pending"].items()}
        self._known = {k: (v if v is None or v == _REFUSED else [float(x) for x in v] if isinstance(v, list)
                           else float(v)) for k, v in state["known"].items()}
        self._asks = int(state["asks"])

    def __repr__(self) -> str:
        return f"TPE(n_startup_trials={self.n_startup_trials}, multivariate={self.multivariate}, group={self.group})"


__all__ = ["TPE"]
