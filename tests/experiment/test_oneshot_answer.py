"""Every one-shot algorithm's answer inside an Experiment is its paper's, on a user's own space:
DARTS, GumbelDARTS and ProxylessNAS the strongest candidates, ENAS the best of its final controller
draws, SPOS its evolutionary search (with the experiment's constraints). Each candidate a
selection scores is a trial in the store; a selection cut short resumes to the same answer; the
seed fixes the result whatever the global random state; every training batch is used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.cli.config import from_config
from archspace.evaluate import Classification
from archspace.experiment import Experiment, InvalidSettingError
from archspace.experiment.doctor import check_experiment
from archspace.experiment.oneshot_run import OneShotRun
from archspace.hardware import count_params
from archspace.oneshot import DARTSPT, ONESHOT, SPOS, OneShotTrainer, create_oneshot
from archspace.oneshot.loop import cycle_shorter
from archspace.oneshot.spos_search import EvolutionSearch
from archspace.space.samples import fingerprint
from archspace.storage import TrialStatus
from archspace.testing.oneshot_contracts import one_thread

EVOLUTION = {"population": 6, "select": 2, "mutation": 2, "crossover": 2, "generations": 2}
SETTINGS: dict[str, dict[str, Any]] = {
    "darts": {}, "betadarts": {}, "dartspt": {"projection_interval": 1}, "drnas": {}, "gumbel": {}, "proxylessnas": {}, "enas": {"final_draws": 5},
    "spos": {"evolution": EVOLUTION, "calibration_batches": 2},
}


class Block(nn.Module):
    def __init__(self, width: Any) -> None:
        super().__init__()
        self.conv = asp.nn.Conv2d(width, width, 3, padding=1)
        self.norm = asp.nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.conv(x)))


class UserSpace(asp.ModelSpace):
    """As a user porting an NNI project writes one: a stem LayerChoice of two convolutions sharing
    one width, a Repeat of conv blocks with a depth choice, an optional skip."""

    def __init__(self) -> None:
        super().__init__()
        w = asp.choice("width", [4, 8])
        self.stem = asp.LayerChoice([asp.nn.Conv2d(1, w, 3, padding=1), asp.nn.Conv2d(1, w, 5, padding=2)],
                                    label="stem")
        self.blocks = asp.Repeat(lambda i: Block(w), range(1, 3), label="depth")
        self.skip = asp.InputChoice(2, 1, label="skip")
        self.head = asp.nn.Linear(w, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        out = self.skip([self.blocks(stem), stem])
        return self.head(out.mean((2, 3)))


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5 + y.view(-1, 1, 1, 1) / 5.0
    return x, y


def _evaluator(train: int = 48, val: int = 24) -> Classification:
    return Classification(_data(train, 1), _data(val, 2), batch_size=8)


def _experiment(name: str, directory: Path | None = None, **kwargs: Any) -> Experiment:
    trainer = create_oneshot(name, epochs=2, progress=False, seed=3, **SETTINGS[name])
    return Experiment(UserSpace(), _evaluator(), trainer, directory=directory, threads=1, **kwargs)


@pytest.mark.parametrize("name", ONESHOT.list())
def test_the_stored_best_is_the_algorithms_own_answer(name: str) -> None:
    experiment = _experiment(name)
    trials = experiment.run()
    trainer = experiment.strategy
    assert isinstance(trainer, OneShotTrainer)
    result = [t for t in trials if t.worker == "oneshot"]
    assert len(result) == 1 and result[0].sample == trainer.export() == trainer.supernet.export()
    assert experiment.best()[0].sample == result[0].sample
    selection = [t for t in trials if t.worker == "oneshot-selection"]
    if name == "dartspt":  # every decision projected in turn by perturbation; the answer is what they kept
        assert isinstance(trainer, DARTSPT) and not selection
        assert {p["label"]: p["chosen"] for p in trainer.projections} == {
            label: result[0].sample[label] for label in trainer.supernet.arch.names if label in result[0].sample}
        assert result[0].metrics["selected_by"] == "perturbation"
        assert result[0].metrics["projected"] == len(trainer.supernet.arch.names)
        assert len(experiment.epochs()) == trainer.total_epochs > trainer.epochs
        return
    if name in ("darts", "betadarts", "drnas", "gumbel", "proxylessnas"):  # the strongest candidate of every decision
        logits = trainer.supernet.arch
        argmax = {label: logits.best(label) for label in logits.names}
        assert all(result[0].sample[label] == argmax[label] for label in result[0].sample)
        assert result[0].sample == experiment.epochs()[-1]["sample"] and not selection
        assert result[0].metrics["selected_by"] == "logits"
        return
    # ENAS and SPOS score candidates: each is a trial, and the answer is the best of them
    assert selection and all(t.status is TrialStatus.SUCCEEDED for t in selection)
    assert len({fingerprint(t.sample) for t in selection}) == len(selection)
    top = max(selection, key=lambda t: t.metrics["selection_score"])
    assert result[0].sample == top.sample and result[0].metric == top.metric == trainer.answer_score
    assert result[0].metrics["selected_by"] == "selection"
    if name == "spos":  # the evolutionary search, computed again over the trained supernet
        assert isinstance(trainer, SPOS) and trainer.search_result is not None
        assert [fingerprint(s) for s, _ in trainer.search_result.scored] == [fingerprint(t.sample) for t in selection]


def test_spos_evolution_again_by_hand_finds_the_same_answer() -> None:
    experiment = _experiment("spos")
    experiment.run()
    trainer = experiment.strategy
    assert isinstance(trainer, SPOS) and trainer.search_result is not None
    evaluator = experiment.evaluator
    assert isinstance(evaluator, Classification)
    train, val = evaluator.epoch_batches(trainer.epochs)
    again = EvolutionSearch(seed=3, **EVOLUTION).search(trainer.supernet, list(train)[:2], list(val))
    assert again.best == trainer.export() == experiment.best()[0].sample
    assert again.best_score == pytest.approx(trainer.answer_score)


def test_spos_evolution_takes_the_experiments_constraints() -> None:
    space = UserSpace()
    sizes = sorted({count_params(space, space.random_sample(s)) for s in range(40)})
    bound = sizes[len(sizes) // 2]
    experiment = _experiment("spos", constraints=[f"params <= {bound}"], input_shape=(1, 1, 8, 8))
    trials = experiment.run()
    assert trials and all(count_params(space, t.sample) <= bound for t in trials)
    with pytest.raises(InvalidSettingError, match="constraints"):
        _experiment("darts", constraints=[f"params <= {bound}"], input_shape=(1, 1, 8, 8))
    with pytest.raises(InvalidSettingError, match="twice"):
        Experiment(UserSpace(), _evaluator(), SPOS(evolution={**EVOLUTION, "constraint": "params <= 1e9"}),
                   constraints=[f"params <= {bound}"], input_shape=(1, 1, 8, 8))


@pytest.mark.parametrize("name", ["spos", "enas"])
def test_a_selection_cut_short_resumes_to_the_same_answer_scoring_nothing_twice(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = _experiment(name, tmp_path / "clean")
    clean_trials = clean.run()

    calls = {"n": 0}

    class Crash(KeyboardInterrupt):
        pass

    original = OneShotRun._record_candidate

    def crash_at_the_third(self: OneShotRun, sample: Any, score: float) -> None:
        calls["n"] += 1
        if calls["n"] > 2:  # scored, not stored: as if the driver died there
            raise Crash("killed in the selection")
        original(self, sample, score)

    monkeypatch.setattr(OneShotRun, "_record_candidate", crash_at_the_third)
    cut = _experiment(name, tmp_path / "cut")
    with pytest.raises(Crash):
        cut.run()
    monkeypatch.undo()
    partial = cut.storage.trials()
    assert 0 < len(partial) < len(clean_trials) and all(t.worker == "oneshot-selection" for t in partial)

    resumed = _experiment(name, tmp_path / "cut")
    trials = resumed.resume()
    key = lambda t: (t.worker, fingerprint(t.sample), t.metric)  # noqa: E731
    assert sorted(map(key, trials)) == sorted(map(key, clean_trials))
    assert resumed.best()[0].sample == clean.best()[0].sample


RERANK = {"top": 2, "epochs": 1}


def test_spos_rerank_inside_an_experiment_stores_the_stand_alone_pick_and_both_scores() -> None:
    trainer = SPOS(epochs=2, progress=False, seed=3, evolution=EVOLUTION, calibration_batches=2, rerank=RERANK)
    experiment = Experiment(UserSpace(), _evaluator(), trainer, threads=1)
    trials = experiment.run()
    assert trainer.search_result is not None and trainer.rerank_result is not None
    result = [t for t in trials if t.worker == "oneshot"]
    ranked = trainer.rerank_result.ranked
    assert len(result) == 1 and result[0].sample == ranked[0][0] == trainer.export() == experiment.best()[0].sample
    assert fingerprint(result[0].sample) in {fingerprint(s) for s, _ in trainer.search_result.top[:2]}
    assert result[0].metric == ranked[0][1] == trainer.answer_score  # the stand-alone validation accuracy
    assert result[0].metrics["selected_by"] == "standalone rerank" and result[0].metrics["reranked"] == 2
    assert result[0].metrics["supernet_score"] == ranked[0][2]
    assert result[0].metrics["standalone_score"] == ranked[0][1]
    selection = [t for t in trials if t.worker == "oneshot-selection"]  # the evolution's candidates, as before
    assert [fingerprint(s) for s, _ in trainer.search_result.scored] == [fingerprint(t.sample) for t in selection]


@pytest.mark.parametrize("name", ONESHOT.list())
def test_every_algorithm_rechecks_its_candidates_inside_an_experiment(name: str) -> None:
    """``rerank=2`` on every registered algorithm: the stored answer is the best of the two
    candidates trained alone, its metric their stand-alone validation accuracy."""
    trainer = create_oneshot(name, epochs=2, progress=False, seed=3, rerank=RERANK, **SETTINGS[name])
    experiment = Experiment(UserSpace(), _evaluator(), trainer, threads=1)
    experiment.run()
    best = experiment.best()[0]
    assert trainer.rerank_result is not None and len(trainer.rerank_result.ranked) == 2
    ranked = trainer.rerank_result.ranked
    assert best.sample == ranked[0][0] == trainer.export() and best.metric == ranked[0][1]
    assert ranked[0][1] >= ranked[1][1] and ranked[0][0] != ranked[1][0]
    assert best.metrics["selected_by"] == "standalone rerank" and best.metrics["rerank_source"] == trainer.rerank_source


def test_a_run_killed_in_the_rerank_resumes_to_the_same_answer_scoring_nothing_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def make(directory: Path) -> Experiment:
        trainer = SPOS(epochs=2, progress=False, seed=3, evolution=EVOLUTION, calibration_batches=2, rerank=RERANK)
        return Experiment(UserSpace(), _evaluator(), trainer, directory=directory, threads=1)

    clean = make(tmp_path / "clean")
    clean_trials = clean.run()

    class Crash(KeyboardInterrupt):
        pass

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise Crash("killed in the stand-alone re-check")

    monkeypatch.setattr("archspace.oneshot.loop.rerank", killed)
    cut = make(tmp_path / "cut")
    with pytest.raises(Crash):
        cut.run()
    monkeypatch.undo()
    stored = cut.storage.trials()
    assert stored and all(t.worker == "oneshot-selection" for t in stored)  # the evolution's scores survived

    scored: list[Any] = []
    monkeypatch.setattr(OneShotRun, "_record_candidate",
                        lambda self, sample, score: scored.append(sample))  # nothing should be scored again
    resumed = make(tmp_path / "cut")
    trials = resumed.resume()
    assert scored == []
    key = lambda t: (t.worker, fingerprint(t.sample), t.metric)  # noqa: E731
    assert sorted(map(key, trials)) == sorted(map(key, clean_trials))
    assert resumed.best()[0].sample == clean.best()[0].sample


def test_a_config_asks_for_the_rerank_by_name(tmp_path: Path) -> None:
    config = {"space": "archspace.testing.spaces:SharedNet",
              "strategy": {"name": "spos", "epochs": 1, "seed": 3, "evolution": EVOLUTION, "rerank": RERANK},
              "evaluator": {"name": "classification", "data": "digits", "batch_size": 64, "seed": 3},
              "experiment": {"directory": str(tmp_path), "threads": 1}}
    experiment = from_config(config)
    experiment.run()
    best = experiment.best()[0]
    assert best.metrics["selected_by"] == "standalone rerank" and best.metrics["reranked"] == 2


# Seeds ------------------------------------------------------------------------------------------------
def _final_state(trainer: OneShotTrainer) -> dict[str, torch.Tensor]:
    state = {f"net.{k}": v.detach().clone() for k, v in trainer.supernet.net.state_dict().items()}
    return state | {f"arch.{k}": v.detach().clone() for k, v in trainer.supernet.arch.state_dict().items()}


@pytest.mark.parametrize("name", ONESHOT.list())
def test_one_seed_fixes_the_answer_and_the_weights_whatever_the_global_random_state(name: str) -> None:
    train, val = _evaluator().epoch_batches(0)
    train_batches, val_batches = list(train), list(val)
    results = []
    for global_seed in (0, 1234):
        torch.manual_seed(global_seed)
        space = UserSpace()  # built from the global generator, in another state each time
        trainer = create_oneshot(name, epochs=2, progress=False, seed=5, **SETTINGS[name])
        with one_thread():
            answer = trainer.fit(space, train_batches, val_batches)
        results.append((answer, _final_state(trainer)))
    (first, a), (second, b) = results
    assert first == second
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_a_config_run_twice_with_one_seed_picks_the_same_architecture(tmp_path: Path) -> None:
    answers, states = [], []
    for run, global_seed in enumerate((0, 99)):
        torch.manual_seed(global_seed)
        config = {"space": "archspace.testing.spaces:SharedNet", "strategy": {"name": "darts", "epochs": 2, "seed": 3},
                  "evaluator": {"name": "classification", "data": "digits", "batch_size": 64, "seed": 3},
                  "experiment": {"directory": str(tmp_path / str(run)), "threads": 1}}
        experiment = from_config(config)
        experiment.run()
        answers.append(experiment.best()[0].sample)
        assert isinstance(experiment.strategy, OneShotTrainer)
        states.append(_final_state(experiment.strategy))
    assert answers[0] == answers[1]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_fit_with_a_seed_repeats_whatever_state_the_model_was_built_in() -> None:
    sample = UserSpace().default_sample()
    models = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        with asp.fixed_arch(sample):
            models.append(UserSpace())
    assert not torch.equal(models[0].head.weight, models[1].head.weight)
    metrics = [Classification(_data(32, 1), _data(16, 2), batch_size=8, seed=0).fit(m) for m in models]
    assert metrics[0] == metrics[1]
    assert all(torch.equal(a, b) for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()))
    kept = UserSpace().freeze(sample)
    before = kept.head.weight.detach().clone()
    Classification(_data(32, 1), _data(16, 2), batch_size=8, seed=0, epochs=1, learning_rate=0.0).fit(
        kept, reset_weights=False)
    assert torch.equal(kept.head.weight, before)  # fine-tuning keeps the weights it was given


# Every training batch ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ONESHOT.list())
def test_every_training_batch_is_used_each_epoch(name: str) -> None:
    experiment = Experiment(UserSpace(), _evaluator(train=80, val=24),  # 10 training batches, 3 validation
                            create_oneshot(name, epochs=1, progress=False, **SETTINGS[name]), threads=1)
    experiment.run()
    assert experiment.epochs()[0]["steps"] == 10


def test_the_shorter_loader_is_cycled_until_the_longer_ends() -> None:
    def batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.full((1,), float(i)), torch.zeros(1, dtype=torch.long)) for i in range(n)]

    def indices(a: int, b: int) -> list[tuple[int, int]]:
        return [(int(x[0]), int(y[0])) for (x, _), (y, _) in cycle_shorter(batches(a), batches(b))]

    assert indices(5, 2) == [(0, 0), (1, 1), (2, 0), (3, 1), (4, 0)]
    assert indices(2, 3) == [(0, 0), (1, 1), (0, 2)]
    assert indices(3, 3) == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(asp.ArchspaceError, match="validation data yields no batch"):
        list(cycle_shorter(batches(3), iter(batches(1))))


def test_a_search_longer_than_its_epochs_is_recorded_at_its_whole_length(tmp_path: Path) -> None:
    """DARTS-PT runs ``epochs`` and then a fine-tuning stretch per decision: the experiment's
    config holds the whole length, so ``doctor`` finds the recorded epochs and the checkpoint
    consistent with it (it reported both as another search's before)."""
    trainer = DARTSPT(epochs=2, projection_interval=1, progress=False, seed=3)
    experiment = Experiment(UserSpace(), _evaluator(), trainer, directory=tmp_path / "run", threads=1)
    experiment.run()
    assert len(experiment.epochs()) == trainer.total_epochs == trainer.planned_epochs(UserSpace()) > 2
    report = check_experiment(tmp_path / "run")
    assert report.errors == [] and report.warnings == []
