"""DARTS-PT: a perturbation is exactly the candidate's weight set to 0; a projection keeps the
candidate whose removal hurts most and runs it alone from then on; the schedule of projections
and fine-tuning; resuming mid-way; its settings' errors. It joins the contract suites (every
``ONESHOT.list()`` test) and ``Experiment`` like every algorithm."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import ArchspaceError
from archspace.oneshot import DARTS, DARTSPT, ONESHOT, Mix, Projection, Softmax
from tests.oneshot.helpers import Smooth, Toy, toy_data


class Chain(asp.ModelSpace):
    """``n`` decisions in a row, each a linear layer or the identity."""

    def __init__(self, n: int = 6) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.ops = nn.ModuleList(asp.LayerChoice({"linear": nn.Linear(8, 8), "id": nn.Identity()}, label=f"op{i}")
                                 for i in range(n))
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc(x))
        for op in self.ops:
            x = op(x)
        return self.head(x)


def test_the_policy_runs_a_projected_decision_alone_and_leaves_a_removed_candidate_out() -> None:
    policy = Projection()
    logits = torch.tensor([0.3, -1.0, 2.0])
    soft = torch.softmax(logits, -1)
    plain = policy.mix("e", logits, ["a", "b", "c"], training=True)
    assert plain.indices == (0, 1, 2) and torch.equal(plain.weights, soft)
    policy.removed = ("e", 1)
    removed = policy.mix("e", logits, ["a", "b", "c"], training=True)
    assert removed.indices == (0, 2) and torch.equal(removed.weights, soft[[0, 2]])  # not renormalised
    assert policy.mix("other", logits, ["a", "b", "c"], training=True).indices == (0, 1, 2)
    policy.removed, policy.decided["e"] = None, 2
    decided = policy.mix("e", logits, ["a", "b", "c"], training=False)
    assert decided.indices == (2,) and decided.weights.tolist() == [1.0]
    again = Projection()
    again.load_state_dict(policy.state_dict())
    assert again.decided == {"e": 2}


class ZeroWeight(Softmax):
    """Every candidate runs; candidate ``index`` of ``label`` with weight exactly 0."""

    def __init__(self, label: str, index: int) -> None:
        self.label, self.index = label, index

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        mix = super().mix(label, logits, values, training=training)
        if label != self.label:
            return mix
        mask = torch.ones_like(mix.weights)
        mask[self.index] = 0
        return Mix(mix.indices, mix.weights * mask)


def test_a_perturbation_score_is_the_supernet_with_that_candidates_weight_zero() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randn(32, 3)
    val = [(x[:16], y[:16]), (x[16:], y[16:])]
    trainer = DARTSPT(epochs=1, progress=False)
    supernet = trainer.build(Smooth())
    with torch.no_grad():
        for p in supernet.arch_parameters():
            p.copy_(torch.linspace(-1, 1.5, p.numel()))
    mse = nn.functional.mse_loss
    for label in ("act", "mid"):
        scores = trainer.perturbation_scores(label, val, loss_fn=mse)
        for index, score in enumerate(scores):
            with supernet.using(ZeroWeight(label, index)), torch.no_grad():
                expected = -(mse(supernet(x[:16]), y[:16]) * 16 + mse(supernet(x[16:]), y[16:]) * 16) / 32
            assert score == pytest.approx(float(expected), rel=1e-6, abs=1e-7)  # the negated loss: not accuracy
        assert len(set(scores)) == len(scores)


def test_the_loss_criterion_scores_a_removal_by_the_negated_validation_loss_of_class_logits() -> None:
    """``projection_criterion="loss"`` (the official ``--proj_crit loss``): for class logits, where
    the default scores top-1 accuracy, each removal's score is the negated cross-entropy of the
    supernet with that candidate's weight 0, weighted by batch size; the accuracy criterion's
    scores on the same supernet are the accuracies."""
    torch.manual_seed(0)
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    val = [(x[:24], y[:24]), (x[24:], y[24:])]  # unequal batches: the score is per example
    ce = nn.functional.cross_entropy
    by_loss = DARTSPT(epochs=1, progress=False, projection_criterion="loss")
    supernet = by_loss.build(Smooth())
    with torch.no_grad():
        for p in supernet.arch_parameters():
            p.copy_(torch.linspace(-1, 1.5, p.numel()))
    by_accuracy = DARTSPT(epochs=1, progress=False)
    by_accuracy.supernet, by_accuracy.policy = supernet, by_loss.policy
    for label in ("act", "mid"):
        losses = by_loss.perturbation_scores(label, val, loss_fn=ce)
        accuracies = by_accuracy.perturbation_scores(label, val, loss_fn=ce)
        for index, (loss, accuracy) in enumerate(zip(losses, accuracies)):
            with supernet.using(ZeroWeight(label, index)), torch.no_grad():
                supernet.train()
                out = [supernet(x[:24]), supernet(x[24:])]
            expected = -(ce(out[0], y[:24]) * 24 + ce(out[1], y[24:]) * 16) / 40
            right = ((out[0].argmax(1) == y[:24]).sum() + (out[1].argmax(1) == y[24:]).sum()) / 40
            assert loss == pytest.approx(float(expected), rel=1e-6)
            assert accuracy == pytest.approx(float(right), abs=1e-6)
        assert all(s < 0 for s in losses) and all(0 <= a <= 1 for a in accuracies)


def test_evaluating_a_perturbation_leaves_the_running_statistics_alone() -> None:
    class Normed(Toy):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.BatchNorm1d(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.op(self.norm(torch.relu(self.fc(x)))))

    trainer = DARTSPT(epochs=1, progress=False)
    supernet = trainer.build(Normed())
    before = {k: v.clone() for k, v in supernet.named_buffers()}
    trainer.perturbation_scores("op", toy_data()[1], loss_fn=nn.functional.cross_entropy)
    assert all(torch.equal(before[k], v) for k, v in supernet.named_buffers())

    (x, y), *_ = toy_data()[1]
    broken = [(x, y), (x[:, :3], y)]  # the second batch fails in the forward pass, after the first ran
    with pytest.raises(RuntimeError):  # an aborted scoring leaves them alone too
        trainer.perturbation_scores("op", broken, loss_fn=nn.functional.cross_entropy)
    assert all(torch.equal(before[k], v) for k, v in supernet.named_buffers())
    assert trainer.policy.removed is None


def test_a_projection_keeps_the_candidate_whose_removal_hurts_most(monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = DARTSPT(epochs=1, progress=False)
    supernet = trainer.build(Toy())
    with torch.no_grad():
        supernet.arch.logits("op").copy_(torch.tensor([0.1, 2.0, -0.5]))  # 'zero' is the logits' favourite
    strength = float(torch.softmax(supernet.arch.logits("op").detach(), -1).max())
    monkeypatch.setattr(trainer, "perturbation_scores", lambda *a, **k: [0.2, 0.9, 0.6])
    assert trainer.project_next([], loss_fn=nn.functional.cross_entropy) == "op"
    assert trainer.policy.decided == {"op": 0} and supernet.export() == {"op": "keep"}
    assert float(torch.softmax(supernet.arch.logits("op").detach(), -1).max()) == pytest.approx(strength)  # kept by a swap
    assert trainer.projections == [{"label": "op", "epoch": 0, "scores": {"keep": 0.2, "zero": 0.9, "noise": 0.6},
                                    "chosen": "keep"}]
    assert trainer.project_next([], loss_fn=nn.functional.cross_entropy) is None  # nothing left open
    tie = DARTSPT(epochs=1, progress=False)
    tie.build(Toy())
    monkeypatch.setattr(tie, "perturbation_scores", lambda *a, **k: [0.7, 0.3, 0.3])
    tie.project_next([], loss_fn=nn.functional.cross_entropy)
    assert tie.policy.decided == {"op": 1}  # the first of the lowest


@pytest.mark.parametrize("interval, total, before, at_end", [
    (5, 3 + 25, [3, 8, 13, 18, 23, 27], 0),  # the official schedule: proj_intv 5, six edges
    (1, 3 + 5, [3, 4, 5, 6, 7], 1),          # the last after the final fine-tuning epoch
    (0, 3, [], 6),                            # no fine-tuning: all at the end
])
def test_the_schedule_of_projections(interval: int, total: int, before: list[int], at_end: int) -> None:
    trainer = DARTSPT(epochs=3, projection_interval=interval, progress=False)
    assert trainer.total_epochs == 3  # before the supernet exists its decisions are unknown
    trainer.build(Chain(6))
    assert trainer.total_epochs == total
    assert [e for e in range(total) if trainer.projects_before(e)] == before
    train, val = toy_data(n=64)
    trainer.fit(Chain(6), train, val)
    assert trainer.epoch == total and len(trainer.projections) == 6
    assert [p["label"] for p in trainer.projections] == trainer.projection_order and sorted(trainer.projection_order) == [f"op{i}" for i in range(6)]
    assert [p["epoch"] for p in trainer.projections] == before + [total] * at_end


@pytest.mark.parametrize("order", [1, 2])
def test_fine_tuning_runs_at_a_tenth_of_the_rate_with_fresh_momentum_and_projected_logits_stay(
        order: int, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = DARTSPT(epochs=2, projection_interval=2, order=order, progress=False, learning_rate=0.05)
    rates: list[tuple[int, float]] = []
    original_step, original_prepare, original_project = trainer.weight_step, trainer.prepare_epoch, trainer.project_next
    cleared: list[bool] = []
    projected: dict[str, torch.Tensor] = {}

    def project_next(*args: Any, **kwargs: Any) -> str | None:
        label = original_project(*args, **kwargs)
        if label is not None:
            projected[label] = trainer.supernet.arch.logits(label).detach().clone()
        return label

    def weight_step(train: Any, loss_fn: Any) -> float:
        rates.append((trainer.epoch, trainer.weight_optimizer.param_groups[0]["lr"]))
        for label, kept in projected.items():  # the architecture step leaves a projected decision alone
            assert torch.equal(trainer.supernet.arch.logits(label), kept)
        return original_step(train, loss_fn)

    def prepare_epoch(epoch: int, val_data: Any, **kwargs: Any) -> None:
        had = bool(trainer.weight_optimizer.state)
        original_prepare(epoch, val_data, **kwargs)
        if epoch == trainer.epochs:
            cleared.append(had and not trainer.weight_optimizer.state)

    monkeypatch.setattr(trainer, "project_next", project_next)
    monkeypatch.setattr(trainer, "weight_step", weight_step)
    monkeypatch.setattr(trainer, "prepare_epoch", prepare_epoch)
    train, val = toy_data(n=128)
    trainer.fit(Chain(3), train, val)
    assert trainer.total_epochs == 2 + 2 * 2 and cleared == [True] and len(projected) == 3
    by_epoch = {e: {lr for ep, lr in rates if ep == e} for e in range(6)}
    assert by_epoch[0] == {0.05} and len(by_epoch[1]) == 1 and by_epoch[1] != {0.05}  # the cosine
    assert trainer.tune_learning_rate == pytest.approx(0.005)
    assert all(by_epoch[e] == {trainer.tune_learning_rate} for e in range(2, 6))


def test_with_fixed_logits_the_architecture_never_trains() -> None:
    trainer = DARTSPT(epochs=3, projection_interval=1, fix_alpha=True, progress=False)
    supernet = trainer.build(Chain(3))
    initial = {label: sorted(supernet.arch.logits(label).tolist()) for label in supernet.arch.names}
    read = {"val": 0}

    class Counted(list):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            read["val"] += 1
            return super().__iter__()

    train, val = toy_data(n=128)
    trainer.fit(Chain(3), train, Counted(val))
    assert not trainer.uses_validation
    assert read["val"] == 3  # only the three projections read validation batches
    for label in supernet.arch.names:  # the logits only swapped by the projections
        assert sorted(trainer.supernet.arch.logits(label).tolist()) == initial[label]


@pytest.mark.parametrize("fix_alpha", [False, True])
def test_it_keeps_the_op_the_supernet_needs(fix_alpha: bool) -> None:
    train, val = toy_data()
    for seed in range(3):
        trainer = DARTSPT(epochs=30, projection_interval=2, fix_alpha=fix_alpha, seed=seed, learning_rate=0.1,
                          progress=False)
        assert trainer.fit(Toy(), train, val) == {"op": "keep"}
        scores = trainer.projections[0]["scores"]
        assert scores["keep"] < 0.5 < min(scores["zero"], scores["noise"])  # removing it ruins the supernet


class _Crash(Exception):
    pass


def test_a_search_resumed_in_the_fine_tuning_ends_as_an_unbroken_one(tmp_path: Path) -> None:
    train, val = toy_data(n=128)
    settings = {"epochs": 2, "projection_interval": 2, "seed": 4, "progress": False}
    full = DARTSPT(**settings)
    answer = full.fit(Chain(3), train, val, directory=tmp_path / "full", threads=1)

    def crash(record: dict[str, Any]) -> None:
        if record["epoch"] == 3:  # one projection made, one fine-tuning epoch after it
            raise _Crash

    with pytest.raises(_Crash):
        DARTSPT(**settings).fit(Chain(3), train, val, directory=tmp_path / "cut", on_epoch=crash, threads=1)
    resumed = DARTSPT(**settings)
    assert resumed.fit(Chain(3), train, val, directory=tmp_path / "cut", resume=True, threads=1) == answer
    assert resumed.projections == full.projections and len(full.projections) == 3
    a, b = full.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("settings, message", [
    ({"projection_interval": -1}, "projection_interval must be an int >= 0"),
    ({"projection_interval": 1.5}, "projection_interval must be an int >= 0"),
    ({"projection_interval": True}, "projection_interval must be an int >= 0"),
    ({"projection_batches": 0}, "projection_batches must be an int >= 1"),
    ({"fix_alpha": "yes"}, "fix_alpha must be True or False"),
    ({"tune_learning_rate": 0}, "tune_learning_rate must be a number > 0 or None"),
    ({"tune_learning_rate": float("nan")}, "tune_learning_rate must be a number > 0 or None"),
    ({"projection_criterion": "acc"}, "projection_criterion must be one of 'accuracy', 'loss', got 'acc'"),
    ({"projection_criterion": None}, "projection_criterion must be one of 'accuracy', 'loss'"),
])
def test_bad_settings_are_refused_with_what_is_allowed(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ArchspaceError, match=message):
        DARTSPT(**settings)


def test_empty_validation_data_is_refused() -> None:
    trainer = DARTSPT(epochs=1, progress=False)
    trainer.build(Toy())
    with pytest.raises(ArchspaceError, match="validation data is empty"):
        trainer.project_next([], loss_fn=nn.functional.cross_entropy)


def test_registered() -> None:
    assert ONESHOT.get("dartspt") is DARTSPT
    assert isinstance(ONESHOT.create("dartspt", epochs=1), DARTSPT)


@pytest.mark.parametrize("order", [1, 2])
def test_the_supernet_trains_as_darts_step_for_step(order: int) -> None:
    """Before the projections DARTS-PT is DARTS (first or second order): the same weights and
    logits after the same steps."""
    train, val = toy_data(n=128)
    states = []
    for cls in (DARTSPT, DARTS):
        trainer = cls(epochs=3, order=order, seed=2, progress=False)
        supernet = trainer.build(Smooth())
        for (xt, yt), (xv, yv) in zip(train, val):
            trainer.step((xt[:, :4], yt % 3), (xv[:, :4], yv % 3), nn.functional.cross_entropy)
        states.append({k: v.clone() for k, v in supernet.state_dict().items()})
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_the_recheck_ranks_runners_up_by_the_projections_scores() -> None:
    """``rerank``'s candidates: the answer first, then the projection whose runner-up came
    closest (the smallest score gap) with that runner-up."""
    train, val = toy_data(n=128)
    trainer = DARTSPT(epochs=2, projection_interval=1, fix_alpha=True, seed=0, progress=False)
    answer = trainer.fit(Chain(3), train, val)  # seed 0: the logits' runner-up is another decision
    (first, _), (second, _) = trainer.likely_samples(2)
    assert first == answer
    gaps = {}
    for record in trainer.projections:
        ordered = sorted(record["scores"].items(), key=lambda item: item[1])
        gaps[record["label"]] = (ordered[1][1] - ordered[0][1], ordered[1][0])
    label = min(gaps, key=lambda name: gaps[name][0])
    assert sorted(g for g, _ in gaps.values())[0] < sorted(g for g, _ in gaps.values())[1]  # one closest call
    assert second == {**answer, label: gaps[label][1]}
    assert "projections" in trainer.rerank_source


# A DARTS cell's wiring: the topology projection ------------------------------------------------------
def _cell_data(n: int = 64) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]:
    torch.manual_seed(0)
    x, y = torch.randn(n, 1, 6, 6), torch.randint(0, 10, (n,))
    return [(x[:n // 2], y[:n // 2])], [(x[n // 2:], y[n // 2:])]


class EdgeOut(Softmax):
    """DARTS's softmax with one edge's whole mix weighted exactly 0."""

    def __init__(self, label: str) -> None:
        self.label = label

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        mix = super().mix(label, logits, values, training=training)
        return Mix(mix.indices, mix.weights * 0) if label == self.label else mix


def test_a_topology_score_is_the_supernet_without_that_edge() -> None:
    """Removing an edge of a cell's node is its whole mix at weight 0 (every cell of the label):
    the score is the supernet's validation reward with that edge out, one per source state."""
    from archspace.oneshot._reward import accuracy_or_loss
    from archspace.space.labels import edge_label
    from archspace.testing.spaces import CellNet

    _, val = _cell_data()
    trainer = DARTSPT(epochs=1, progress=False)
    supernet = trainer.build(CellNet(channels=4))
    with torch.no_grad():
        for p in supernet.arch_parameters():
            p.copy_(torch.randn_like(p))
    mse = nn.functional.mse_loss
    x, y = val[0]
    target = torch.randn(len(y), 10, generator=torch.Generator().manual_seed(1))
    scores = trainer.topology_scores("cell1", 4, [(x, target)], loss_fn=mse)
    assert len(scores) == 4 and len(set(scores)) == 4
    supernet.train()
    for j, score in enumerate(scores):
        with supernet.using(EdgeOut(edge_label(4, j, "cell1"))), torch.no_grad():
            expected = accuracy_or_loss(supernet(x), target, mse)
        assert score == pytest.approx(float(expected), rel=1e-6)


def test_a_topology_projection_keeps_the_inputs_whose_removal_hurts_most(monkeypatch: pytest.MonkeyPatch) -> None:
    """After every edge's op is projected, each node with a choice of inputs keeps the
    ``num_ops_per_node`` sources whose edges' removal lowers the reward most; its other edges are
    cut (weight 0 from then on, in every cell of the label), and the export wires it so."""
    from archspace.space.labels import edge_label
    from archspace.testing.spaces import CellNet

    trainer = DARTSPT(epochs=1, progress=False)
    supernet = trainer.build(CellNet(channels=4))
    assert sorted(trainer.topology_order) == [("cell1", 3), ("cell1", 4), ("second", 3), ("second", 4)]
    trainer.policy.decided.update({label: 0 for label in supernet.arch.names})  # every op projected
    monkeypatch.setattr(trainer, "topology_scores", lambda cell, node, *a, **k: [0.5, 0.9, 0.2, 0.7][:node])
    made = [trainer.project_next([], loss_fn=nn.functional.cross_entropy) for _ in range(4)]
    assert made == [f"{cell}/node_{node}" for cell, node in trainer.topology_order]
    assert trainer.project_next([], loss_fn=nn.functional.cross_entropy) is None
    record = next(p for p in trainer.projections if p["label"] == "second/node_4")
    assert record["kind"] == "topology" and record["chosen"] == [0, 2]
    assert record["scores"] == {"0": 0.5, "1": 0.9, "2": 0.2, "3": 0.7}
    assert next(p for p in trainer.projections if p["label"] == "cell1/node_3")["chosen"] == [0, 2]
    assert trainer.policy.dropped == {edge_label(3, 1, c) for c in ("cell1", "second")} | {
        edge_label(4, j, c) for c in ("cell1", "second") for j in (1, 3)}
    cut = trainer.policy.mix(edge_label(4, 3, "second"), torch.zeros(3), ["conv3", "pool", "skip"], training=True)
    assert cut.weights.tolist() == [0.0]
    sample = supernet.export()
    for cell in ("cell1", "second"):
        assert sorted(sample[f"{cell}/input_4_{k}"] for k in range(2)) == [0, 2]
        assert sorted(sample[f"{cell}/input_3_{k}"] for k in range(2)) == [0, 2]
    supernet.space[0].freeze(sample)(torch.randn(2, 1, 6, 6))  # the frozen network of the answer runs


def test_a_cell_search_projects_ops_then_wiring_and_resumes_unbroken(tmp_path: Path) -> None:
    """The schedule counts a projection per decision and per node to wire; a whole search on a
    cell space ends with every node wired by its projection, and one cut during the wiring's
    fine-tuning and resumed ends the same."""
    from archspace.testing.spaces import CellNet

    train, val = _cell_data()
    settings = {"epochs": 1, "projection_interval": 1, "seed": 3, "progress": False}
    full = DARTSPT(**settings)
    supernet = full.build(CellNet(channels=4))
    decisions = len(supernet.arch.names)
    assert full.total_epochs == 1 + decisions + 4 - 1 == full.planned_epochs(CellNet(channels=4))
    answer = full.fit(CellNet(channels=4), train, val, directory=tmp_path / "full", threads=1)
    wired = [p for p in full.projections if p.get("kind") == "topology"]
    assert len(full.projections) == decisions + 4 and [p["kind"] for p in full.projections[-4:]] == ["topology"] * 4
    for record in wired:
        cell, node = record["label"].rsplit("/node_", 1)
        assert sorted(answer[f"{cell}/input_{node}_{k}"] for k in range(2)) == record["chosen"]

    def crash(record: dict[str, Any]) -> None:
        if record["epoch"] == decisions + 1:  # the first node wired, one fine-tuning epoch after it
            raise _Crash

    with pytest.raises(_Crash):
        DARTSPT(**settings).fit(CellNet(channels=4), train, val, directory=tmp_path / "cut", on_epoch=crash, threads=1)
    resumed = DARTSPT(**settings)
    assert resumed.fit(CellNet(channels=4), train, val, directory=tmp_path / "cut", resume=True, threads=1) == answer
    assert resumed.projections == full.projections
    a, b = full.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
