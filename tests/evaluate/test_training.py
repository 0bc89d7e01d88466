"""Evaluators train any model: evaluator.fit(model), and what retraining needs from Classification."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.evaluate import (
    Classification,
    DropPathSchedule,
    EvaluatorError,
    FunctionalEvaluator,
    MetricError,
    Regression,
    TrialContext,
)
from archspace.hub import DartsSpace
from archspace.hub.darts import DropPath


def _data(n: int = 24, features: int = 4, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=generator), torch.randint(0, classes, (n,), generator=generator)


class WithAux(nn.Module):
    """Returns ``(logits, aux_logits)`` while training and logits in eval mode, as DartsSpace does."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 3)
        self.aux = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> Any:
        logits = self.body(x)
        return (logits, self.aux(x)) if self.training else logits


def test_fit_trains_and_scores_one_model_and_writes_its_outputs(tmp_path: Path) -> None:
    data = _data()
    model = nn.Linear(4, 3)
    before = model.weight.detach().clone()
    evaluator = Classification(data, data, epochs=3, learning_rate=0.05)
    metric = evaluator.fit(model, output_dir=tmp_path / "retrain")
    assert isinstance(metric, float) and 0.0 <= metric <= 1.0
    assert metric == evaluator.score(model)  # the returned metric is the trained model's
    assert not torch.equal(model.weight, before)  # trained in place
    saved = torch.load(tmp_path / "retrain" / "model.pt", weights_only=True)
    assert torch.equal(saved["weight"], model.weight)
    result = json.loads((tmp_path / "retrain" / "result.json").read_text())
    assert result["metric"] == metric and [step for step, _ in result["intermediates"]] == [1, 2, 3]


def test_fit_passes_sample_and_output_dir_to_the_evaluator_and_checks_the_result(tmp_path: Path) -> None:
    seen: list[TrialContext] = []

    def fn(model: nn.Module, ctx: TrialContext) -> dict[str, float]:
        seen.append(ctx)
        assert ctx.output_dir is not None
        (ctx.output_dir / "note.txt").write_text("hi")
        return {"default": 0.25, "extra": 2.0}

    assert FunctionalEvaluator(fn).fit(nn.Linear(1, 1), sample={"x": 1}, output_dir=tmp_path) == {
        "default": 0.25, "extra": 2.0}
    assert seen[0].sample == {"x": 1} and (tmp_path / "note.txt").read_text() == "hi"
    with pytest.raises(MetricError):
        FunctionalEvaluator(lambda model, ctx: float("nan")).fit(nn.Linear(1, 1))
    assert FunctionalEvaluator(lambda model, ctx: ctx.output_dir).evaluate(
        nn.Linear(1, 1), TrialContext(0, {}, lambda s, v: None)) is None  # no folder unless given


def test_fit_retrains_a_frozen_architecture() -> None:
    space = DartsSpace.small()
    with asp.fixed_arch(space.default_sample()):
        model = DartsSpace.small()
    generator = torch.Generator().manual_seed(0)
    data = (torch.randn(4, 3, 32, 32, generator=generator), torch.randint(0, 10, (4,), generator=generator))
    assert 0.0 <= Classification(data, data, batch_size=4).fit(model) <= 1.0


def test_auxiliary_logits_add_their_weighted_loss() -> None:
    x, y = _data()
    logits, aux = torch.randn(24, 3), torch.randn(24, 3)
    ce = nn.functional.cross_entropy
    with_aux = Classification((x, y), (x, y), aux_weight=0.4)
    assert torch.allclose(with_aux.loss((logits, aux), y), ce(logits, y) + 0.4 * ce(aux, y))
    assert torch.allclose(Classification((x, y), (x, y)).loss((logits, aux), y), ce(logits, y))
    # trained end to end: the auxiliary head learns only when it has a weight
    for weight, learns in ((0.4, True), (0.0, False)):
        model = WithAux()
        start = model.aux.weight.detach().clone()
        Classification((x, y), (x, y), aux_weight=weight, epochs=1, learning_rate=0.1).fit(model)
        assert (not torch.equal(model.aux.weight, start)) is learns


def _manual_sgd(model: nn.Linear, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
                schedule: bool) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs) if schedule else None
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


@pytest.mark.parametrize("schedule", [None, "cosine"])
def test_learning_rate_schedule_and_optimizer_options_match_plain_pytorch(schedule: str | None) -> None:
    x, y = _data()
    torch.manual_seed(1)
    ours, reference = nn.Linear(4, 3), nn.Linear(4, 3)
    reference.load_state_dict(ours.state_dict())
    evaluator = Classification((x, y), (x, y), epochs=4, batch_size=len(x), optimizer={"name": "sgd", "momentum": 0.9},
                               learning_rate=0.5, schedule=schedule)
    evaluator.fit(ours)
    _manual_sgd(reference, x, y, 4, 0.5, schedule == "cosine")
    assert torch.allclose(ours.weight, reference.weight, atol=1e-6)


def test_cosine_schedule_changes_the_result() -> None:
    x, y = _data()
    results = []
    for schedule in (None, "cosine"):
        torch.manual_seed(1)
        model = nn.Linear(4, 3)
        Classification((x, y), (x, y), epochs=3, batch_size=len(x), optimizer="sgd", learning_rate=0.5,
                       schedule=schedule).fit(model)
        results.append(model.weight.detach().clone())
    assert not torch.equal(*results)


def test_gradient_clipping_bounds_each_step() -> None:
    x, y = _data()
    y = y * 0  # one class, large initial gradients after scaling the inputs
    x = x * 100
    for clip, bounded in ((1e-3, True), (None, False)):
        model = nn.Linear(4, 3)
        start = [p.detach().clone() for p in model.parameters()]
        Classification((x, y), (x, y), epochs=1, batch_size=len(x), optimizer="sgd", learning_rate=1.0,
                       grad_clip=clip).fit(model)
        moved = math.sqrt(sum(float((p.detach() - s).pow(2).sum()) for p, s in zip(model.parameters(), start)))
        assert (moved <= 1e-3 + 1e-9) is bounded


def test_epoch_hook_runs_at_the_start_of_every_epoch() -> None:
    calls: list[tuple[int, int]] = []
    x, y = _data()
    model = nn.Linear(4, 3)

    def hook(m: nn.Module, epoch: int, epochs: int) -> None:
        assert m is model
        calls.append((epoch, epochs))

    Classification((x, y), (x, y), epochs=3, epoch_hook=hook).fit(model)
    assert calls == [(0, 3), (1, 3), (2, 3)]


def test_drop_path_schedule_sets_the_darts_probability() -> None:
    model = DartsSpace.small()
    schedule = DropPathSchedule(0.2)
    schedule(model, 5, 10)
    probs = [m.p for m in model.modules() if isinstance(m, DropPath)]
    assert probs and all(p == pytest.approx(0.1) for p in probs)
    with pytest.raises(EvaluatorError, match="set_drop_path"):
        schedule(nn.Linear(1, 1), 0, 1)
    with pytest.raises(EvaluatorError, match=r"\[0, 1\)"):
        DropPathSchedule(1.5)


def test_bad_training_settings_are_named() -> None:
    data = _data()
    with pytest.raises(EvaluatorError, match="schedule must be one of"):
        Classification(data, data, schedule="linear")
    with pytest.raises(EvaluatorError, match="grad_clip"):
        Classification(data, data, grad_clip=0)
    with pytest.raises(EvaluatorError, match="aux_weight"):
        Classification(data, data, aux_weight=-1)
    with pytest.raises(EvaluatorError, match="epoch_hook"):
        Classification(data, data, epoch_hook=3)  # type: ignore[arg-type]
    with pytest.raises(asp.ArchspaceError, match="known optimizers"):
        Classification(data, data, optimizer={"name": "lion"})


def test_regression_fit_returns_mse() -> None:
    x = torch.randn(16, 4)
    y = x.sum(1)
    mse = Regression((x, y), (x, y), epochs=5, learning_rate=0.05).fit(nn.Linear(4, 1))
    assert mse >= 0.0


def test_epoch_batches_depend_only_on_seed_and_epoch() -> None:
    data = _data(40)
    evaluator = Classification(data, data, batch_size=8, seed=3)
    first = [y.tolist() for _, y in evaluator.epoch_batches(2)[0]]
    again = [y.tolist() for _, y in evaluator.epoch_batches(2)[0]]
    other = [y.tolist() for _, y in evaluator.epoch_batches(3)[0]]
    assert first == again and first != other
