"""FBNet's latency term: the formulas, its gradient on a table measured on this machine, and
GumbelDARTS searching with it."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.oneshot import GumbelDARTS
from archspace.oneshot.latency_loss import LatencyLoss, LatencyLossError


class Table:
    """A hand-written table: fixed part plus weighted costs (the LatencyTable contract)."""

    def __init__(self, costs: Mapping[str, list[float]], fixed: float = 0.5) -> None:
        self.costs, self.fixed = dict(costs), fixed

    def choice_costs(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in self.costs.items()}

    def expected_latency(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = torch.tensor(self.fixed)
        for label, costs in self.costs.items():
            total = total + (weights[label] * torch.tensor(costs)).sum()
        return total


class SlowFast(asp.ModelSpace):
    """One decision: four 5x5 convs ('slow', first, so the default) or one 1x1 conv ('fast')."""

    def __init__(self) -> None:
        super().__init__()
        self.op = asp.LayerChoice({"slow": nn.Sequential(*[nn.Conv2d(16, 16, 5, padding=2) for _ in range(4)]),
                                   "fast": nn.Conv2d(16, 16, 1)}, label="op")
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.op(x).mean((2, 3)))


@pytest.fixture(scope="module")
def measured() -> object:
    from archspace.hardware.latency import LatencyTable

    return LatencyTable.measure(SlowFast(), (1, 16, 24, 24), device="cpu", backend="torch", threads=1,
                                repeats=7, warmup=2)


def test_formulas_of_both_modes_with_and_without_target() -> None:
    table = Table({"op": [1.0, 3.0]}, fixed=1.0)
    w = {"op": torch.tensor([0.5, 0.5])}  # expected latency 3 ms = 3000 us
    task = torch.tensor(2.0)
    assert math.isclose(float(LatencyLoss(table, mode="mul", alpha=0.2, beta=0.6)(task, w)),
                        2.0 * 0.2 * math.log(3000) ** 0.6, rel_tol=1e-5)
    assert math.isclose(float(LatencyLoss(table, mode="mul", alpha=0.25, beta=0.6, target_ms=2.0)(task, w)),
                        2.0 * 0.25 * (math.log(3000) / math.log(2000)) ** 0.6, rel_tol=1e-5)
    assert math.isclose(float(LatencyLoss(table, mode="add", alpha=0.1, beta=0.5)(task, w)),
                        2.0 + 0.1 * 3000 ** 0.5, rel_tol=1e-5)
    assert math.isclose(float(LatencyLoss(table, mode="add", alpha=0.1, beta=0.5, target_ms=2.0)(task, w)),
                        2.0 + 0.1 * 1.5 ** 0.5, rel_tol=1e-5)
    # "mul" at the target latency is alpha exactly
    at_target = LatencyLoss(table, alpha=0.25, target_ms=3.0)
    assert math.isclose(float(at_target.factor(torch.tensor(3.0))), 0.25, rel_tol=1e-6)
    # sub-microsecond tables stay finite
    assert torch.isfinite(LatencyLoss(table).factor(torch.tensor(1e-6)))


def test_bad_settings_and_mismatched_tables_are_refused() -> None:
    table = Table({"op": [1.0, 3.0]})
    with pytest.raises(LatencyLossError, match=r"mode must be one of \['mul', 'add'\], got 'max'"):
        LatencyLoss(table, mode="max")
    with pytest.raises(LatencyLossError, match="alpha must be a positive number"):
        LatencyLoss(table, alpha=0)
    with pytest.raises(LatencyLossError, match="target_ms must be a latency above"):
        LatencyLoss(table, target_ms=-1.0)
    with pytest.raises(LatencyLossError, match="must have expected_latency"):
        LatencyLoss(object())  # type: ignore[arg-type]
    with pytest.raises(LatencyLossError, match="must be a LatencyLoss"):
        GumbelDARTS(latency=table)  # type: ignore[arg-type]
    space = SlowFast()
    for bad, message in ((Table({"other": [1.0, 2.0]}), "prices decision 'other'"),
                         (Table({"op": [1.0, 2.0, 3.0]}), "3 costs for 'op', the supernet 2 candidates")):
        with pytest.raises(LatencyLossError, match=message):
            GumbelDARTS(epochs=1, latency=LatencyLoss(bad)).build(space)


@pytest.mark.parametrize("mode", ["mul", "add"])
def test_the_measured_term_pushes_logits_to_the_faster_candidate(measured: object, mode: str) -> None:
    costs = measured.choice_costs()["op"]  # type: ignore[attr-defined]
    assert costs[0] > costs[1], f"the table should find four 5x5 convs slower than one 1x1 conv: {costs}"
    term = LatencyLoss(measured, mode=mode, alpha=0.25, beta=0.6, target_ms=costs[1] * 2)  # type: ignore[arg-type]
    logits = torch.zeros(2, requires_grad=True)
    loss = term(torch.tensor(1.3), {"op": torch.softmax(logits, -1)})
    loss.backward()
    assert logits.grad is not None
    assert float(logits.grad[0]) > 0 > float(logits.grad[1])  # gradient descent lowers 'slow', raises 'fast'
    # the expected latency is the table's fixed part plus the weighted costs
    half = term.latency({"op": torch.tensor([0.5, 0.5])})
    assert float(term.latency({"op": torch.tensor([0.0, 1.0])})) < float(half) < float(
        term.latency({"op": torch.tensor([1.0, 0.0])}))


def test_gumbel_search_with_the_latency_term_picks_the_fast_op(measured: object) -> None:
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 16, 12, 12, generator=g), torch.randint(0, 4, (8,), generator=g)) for _ in range(6)]
    costs = measured.choice_costs()["op"]  # type: ignore[attr-defined]
    term = LatencyLoss(measured, mode="add", alpha=5.0, beta=1.0, target_ms=costs[1])  # type: ignore[arg-type]
    records: list[dict[str, object]] = []
    trainer = GumbelDARTS(epochs=3, latency=term, arch_learning_rate=0.05, tau_max=2.0, tau_min=0.5,
                          progress=False, seed=0)
    sample = trainer.fit(SlowFast(), batches, batches, on_epoch=records.append)
    assert sample == {"op": "fast"}
    latencies = [float(r["latency_ms"]) for r in records]  # type: ignore[arg-type]
    assert latencies[-1] < latencies[0]
    without = GumbelDARTS(epochs=1, progress=False, seed=0)
    without.fit(SlowFast(), batches[:2], batches[:2])
    assert without.latency is None


def test_latency_weights_are_the_passes_own_gumbel_samples() -> None:
    space = SlowFast()
    trainer = GumbelDARTS(epochs=1, hard=True, latency=LatencyLoss(Table({"op": [2.0, 1.0]})), progress=False)
    supernet = trainer.build(space)
    supernet.train()
    _, drawn = supernet.run(torch.randn(2, 16, 8, 8))
    weights = trainer.latency_weights(drawn)["op"]
    assert sorted(weights.detach().tolist()) == [0.0, 1.0] and weights.requires_grad
    soft = trainer.latency_weights()["op"]  # no draw yet: no pass's mixes given
    assert torch.allclose(soft, torch.softmax(supernet.arch.logits("op"), -1))
    supernet.eval()
    _, evaluated = supernet.run(torch.randn(2, 16, 8, 8))  # an evaluation pass draws no sample
    assert torch.allclose(trainer.latency_weights(evaluated)["op"], soft)
