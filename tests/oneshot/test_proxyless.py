"""ProxylessNAS: at most two paths run, the paper's two-path estimator and rescaling, the latency
term (differentiable, the table's sum for one-hot gates, moving the choice to cheaper ops), the same
gates on every torchrun rank, inside an Experiment, and bad settings refused.

Run as a script under torchrun (``python -m torch.distributed.run ... test_proxyless.py OUT``), this
file is the worker of :func:`test_torchrun_ranks_draw_the_same_gates_every_step`.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import archspace as asp  # noqa: E402
from archspace.hardware.latency import LatencyTable  # noqa: E402
from archspace.hub import ProxylessNASSpace  # noqa: E402
from archspace.oneshot import ProxylessNAS  # noqa: E402
from archspace.oneshot.latency_loss import LatencyLoss, LatencyLossError  # noqa: E402
from archspace.oneshot.proxyless import BinaryGates  # noqa: E402
from archspace.oneshot.supernet import to_supernet  # noqa: E402
from archspace.testing.oneshot_contracts import end_rank  # noqa: E402


def _batches(n: int, seed: int = 0, size: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, 8, 8, generator=g), torch.randint(0, 10, (size,), generator=g)) for _ in range(n)]


class Five(asp.ModelSpace):
    """One decision over five linear maps, for exact gradients."""

    def __init__(self) -> None:
        super().__init__()
        self.op = asp.LayerChoice([nn.Linear(4, 3) for _ in range(5)], label="op")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.op(x)
        return out


@pytest.fixture(scope="module")
def table() -> LatencyTable:
    """A latency table measured on this machine for the small space (few repeats: only its own
    numbers matter to these tests)."""
    return LatencyTable.measure(ProxylessNASSpace.small(), repeats=3, warmup=1, fixed_samples=2)


def test_at_most_two_candidates_run_per_decision_and_one_in_the_weight_step() -> None:
    for recompute in (False, True):
        torch.manual_seed(0)
        trainer = ProxylessNAS(epochs=1, progress=False, seed=3, recompute_arch=recompute)
        supernet = trainer.build(ProxylessNASSpace.small())
        calls: Counter[str] = Counter()
        ran: set[tuple[str, str]] = set()
        for module in supernet.mixed_modules():
            for name, op in module.candidates.items():  # type: ignore[union-attr]
                def hook(m: Any, i: Any, o: Any, label: str = module.name, name: str = name,  # type: ignore[attr-defined]
                         calls: Counter[str] = calls, ran: set[tuple[str, str]] = ran) -> None:
                    calls.update([label])
                    ran.add((label, name))
                op.register_forward_hook(hook)
        (train, val) = _batches(2)
        for _ in range(4):
            calls.clear()
            ran.clear()
            trainer.weight_step(train, nn.functional.cross_entropy)
            assert sorted(calls.values()) == [1, 1, 1], calls
            calls.clear()
            ran.clear()
            trainer.arch_step(val, nn.functional.cross_entropy)
            pairs = {label: mix.indices for label, mix in trainer.last_arch_draw.items()}
            assert all(len(set(pair)) == 2 for pair in pairs.values())
            values = {label: list(supernet.arch.names[label]) for label in pairs}
            # exactly the two sampled paths of each decision ran, no other candidate
            assert ran == {(label, str(values[label][i])) for label, pair in pairs.items() for i in pair}
            # once each in the forward pass (and once more in the backward pass when recomputing)
            assert sorted(calls.values()) == ([4, 4, 4] if recompute else [2, 2, 2]), calls


def test_the_architecture_gradient_is_the_papers_two_path_estimator() -> None:
    torch.manual_seed(0)
    gates = BinaryGates(paths=2, seed=1)
    supernet = to_supernet(Five(), gates)
    with torch.no_grad():
        supernet.arch.logits("op").copy_(torch.tensor([0.3, -0.2, 0.5, 0.1, -0.4]))
    x, target = torch.randn(6, 4), torch.randn(6, 3)
    out, drawn = supernet.run(x)
    (out * target).sum().backward()  # dL/dout = target
    pair = list(drawn["op"].indices)
    q = torch.softmax(supernet.arch.logits("op").detach()[pair], -1)
    ops = list(supernet.net.op.candidates.values())
    with torch.no_grad():
        dg = torch.stack([(ops[j](x) * target).sum() for j in pair])  # dL/dg_j = <dL/dout, o_j>
    expected = torch.zeros(5)
    for a, i in enumerate(pair):
        expected[i] = sum(dg[b] * q[b] * (float(a == b) - q[a]) for b in range(2))
    grad = supernet.arch.logits("op").grad
    assert grad is not None
    assert torch.allclose(grad, expected, atol=1e-5), (grad, expected)


def test_the_full_mode_gradient_is_the_official_codes_estimator_over_every_candidate() -> None:
    """``paths="all"`` (``binary_mode="full"``, the official ``full_v2``): the forward value is the
    one active path's output alone, and the logits' gradient is
    ``sum_j <dL/dout, o_j> p_j (delta_ij - p_i)`` over all five candidates."""
    torch.manual_seed(0)
    supernet = to_supernet(Five(), BinaryGates(paths="all", seed=1))
    logits = torch.tensor([0.3, -0.2, 0.5, 0.1, -0.4])
    with torch.no_grad():
        supernet.arch.logits("op").copy_(logits)
    x, target = torch.randn(6, 4), torch.randn(6, 3)
    out, drawn = supernet.run(x)
    (out * target).sum().backward()  # dL/dout = target
    mix = drawn["op"]
    assert mix.indices == (0, 1, 2, 3, 4)
    active = int(mix.weights.detach().argmax())
    assert mix.weights.detach().tolist() == [float(i == active) for i in range(5)]
    ops = list(supernet.net.op.candidates.values())
    p = torch.softmax(logits, -1)
    with torch.no_grad():
        assert torch.allclose(out, ops[active](x), atol=1e-6)
        dg = torch.stack([(op(x) * target).sum() for op in ops])
    expected = torch.stack([sum(dg[j] * p[j] * (float(i == j) - p[i]) for j in range(5)) for i in range(5)])
    grad = supernet.arch.logits("op").grad
    assert grad is not None
    assert torch.allclose(grad, expected, atol=1e-5), (grad, expected)


def test_the_full_mode_runs_every_candidate_and_moves_every_logit_without_rescaling() -> None:
    for recompute in (False, True):
        torch.manual_seed(0)
        trainer = ProxylessNAS(epochs=1, progress=False, binary_mode="full", arch_learning_rate=0.2,
                               recompute_arch=recompute)
        supernet = trainer.build(Five())
        ran: Counter[int] = Counter()
        for i, op in enumerate(supernet.net.op.candidates.values()):
            op.register_forward_hook(lambda m, a, o, i=i, ran=ran: ran.update([i]))
        x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
        before = supernet.arch.logits("op").detach().clone()
        trainer.weight_step((x, y), nn.functional.cross_entropy)
        assert sum(ran.values()) == 1  # the weight step: one path
        ran.clear()
        trainer.arch_step((x, y), nn.functional.cross_entropy)
        assert sorted(ran) == [0, 1, 2, 3, 4] and set(ran.values()) == {2 if recompute else 1}
        assert trainer.policy.paths == 1  # back to one path for the next weight step
        after = supernet.arch.logits("op").detach()
        assert bool((after != before).all())  # Adam moved every logit: no pair, no rescaling
        state = BinaryGates(paths="all", seed=2).state_dict()
        gates = BinaryGates()
        gates.load_state_dict(state)
        assert gates.paths == "all"
    with pytest.raises(ValueError, match="binary_mode must be 'two' .* or 'full'"):
        ProxylessNAS(binary_mode="full_v2")
    with pytest.raises(Exception, match="1, 2 or 'all' paths"):
        BinaryGates(paths=3)


class ZeroLinear(nn.Module):
    """A ``none`` candidate for a 4 -> 3 map (zeros, marked as a zero op)."""

    zero_output = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :3].mul(0.0)


class WithNone(asp.ModelSpace):
    """A decision with a zero op beside one without."""

    def __init__(self) -> None:
        super().__init__()
        self.op = asp.LayerChoice({"none": ZeroLinear(), "a": nn.Linear(4, 3), "b": nn.Linear(4, 3)}, label="op")
        self.other = asp.LayerChoice([nn.Linear(4, 3) for _ in range(3)], label="other")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.op(x) + self.other(x)
        return out


@pytest.mark.parametrize("mode", ["two", "full"])
def test_the_zero_op_skip_leaves_a_decision_alone_exactly_when_its_active_path_is_none(mode: str) -> None:
    outcomes: dict[bool, Counter[tuple[bool, bool]]] = {}
    for skip in (True, False):
        torch.manual_seed(0)
        trainer = ProxylessNAS(epochs=1, progress=False, binary_mode=mode, skip_zero_active=skip,
                               arch_learning_rate=0.3, seed=3)
        supernet = trainer.build(WithNone())
        assert ProxylessNAS.zero_candidates(supernet) == {"op": frozenset({0})}
        seen: Counter[tuple[bool, bool]] = Counter()
        g = torch.Generator().manual_seed(1)
        for _ in range(60):
            x, y = torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)
            before = {k: supernet.arch.logits(k).detach().clone() for k in ("op", "other")}
            trainer.arch_step((x, y), nn.functional.cross_entropy)
            mix = trainer.last_arch_draw["op"]
            none_active = mix.indices[int(mix.weights.detach().argmax())] == 0
            moved = not torch.equal(supernet.arch.logits("op").detach(), before["op"])
            seen[(none_active, moved)] += 1
            assert not torch.equal(supernet.arch.logits("other").detach(), before["other"])  # no zero op: always
        outcomes[skip] = seen
    # with the skip, "op" moved on every step whose active path was a real op and on none other
    assert set(outcomes[True]) == {(True, False), (False, True)}
    assert outcomes[True][(True, False)] >= 5 and outcomes[True][(False, True)] >= 5
    assert outcomes[False][(True, True)] >= 5  # without it, an active none moves the logits too
    with pytest.raises(ValueError, match="skip_zero_active must be True or False"):
        ProxylessNAS(skip_zero_active=1)  # type: ignore[arg-type]


def test_rescaling_keeps_the_unsampled_probabilities_exactly() -> None:
    torch.manual_seed(0)
    trainer = ProxylessNAS(epochs=1, progress=False, arch_learning_rate=0.2)
    supernet = trainer.build(Five())
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for _ in range(5):
        before = torch.softmax(supernet.arch.logits("op").detach(), -1).clone()
        trainer.arch_step((x, y), nn.functional.cross_entropy)
        after = torch.softmax(supernet.arch.logits("op").detach(), -1)
        pair = list(trainer.last_arch_draw["op"].indices)
        others = [i for i in range(5) if i not in pair]
        assert torch.allclose(after[others], before[others], atol=1e-6)
        assert not torch.allclose(after[pair], before[pair], atol=1e-4)  # the pair itself moved
        assert math.isclose(float(after[pair].sum()), float(before[pair].sum()), abs_tol=1e-6)


def test_expected_latency_is_differentiable_and_the_tables_sum_for_one_hot_gates(table: LatencyTable) -> None:
    space = ProxylessNASSpace.small()
    trainer = ProxylessNAS(epochs=1, progress=False, latency=LatencyLoss(table, mode="add", alpha=1.0, beta=1.0,
                                                                         target_ms=1.0))
    supernet = trainer.build(space)
    for seed in range(3):
        sample = space.random_sample(seed)
        with torch.no_grad():
            for label, values in supernet.arch.names.items():
                logits = supernet.arch.logits(label)
                logits.fill_(-1e4)
                logits[values.index(sample[label])] = 0.0
        assert math.isclose(float(trainer.expected_latency().detach()), table.predict(sample, calibrated=False), rel_tol=1e-5)
    with torch.no_grad():
        for label in supernet.arch.names:
            supernet.arch.logits(label).normal_()
    latency = trainer.expected_latency()
    latency.backward()
    grads = [supernet.arch.logits(label).grad for label in supernet.arch.names]
    assert all(g is not None and bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0 for g in grads)
    # d E[LAT] / d alpha_i = p_i (cost_i - E_label[cost]) for a decision's own costs
    costs = torch.tensor(table.choice_costs()["stage0_block0"])
    p = torch.softmax(supernet.arch.logits("stage0_block0").detach(), -1)
    assert torch.allclose(grads[0], p * (costs - (p * costs).sum()), atol=1e-6)  # type: ignore[arg-type]


def test_the_proxyless_forms_of_the_latency_term() -> None:
    class Table:
        def choice_costs(self) -> dict[str, list[float]]:
            return {"op": [1.0, 4.0]}

        def expected_latency(self, w: Any) -> torch.Tensor:
            return (w["op"] * torch.tensor([1.0, 4.0])).sum()

    ce, w = torch.tensor(2.0), {"op": torch.tensor([0.5, 0.5])}  # latency 2.5 ms
    mul = LatencyLoss(Table(), mode="mul", log=False, alpha=1.0, beta=0.3, target_ms=2.0)
    assert math.isclose(float(mul(ce, w)), 2.0 * (2.5 / 2.0) ** 0.3, rel_tol=1e-6)
    add = LatencyLoss(Table(), mode="add", alpha=0.1, beta=1.0, target_ms=1.0)
    assert math.isclose(float(add(ce, w)), 2.0 + 0.1 * 2.5, rel_tol=1e-6)
    assert "log=False" in repr(mul)


def _final_latency(table: LatencyTable, weight: float, steps: int = 12) -> tuple[float, float, dict[str, list[float]]]:
    torch.manual_seed(0)
    term = LatencyLoss(table, mode="add", alpha=weight, beta=1.0, target_ms=1.0) if weight else None
    trainer = ProxylessNAS(epochs=1, progress=False, arch_learning_rate=0.05, latency=term, seed=0)
    probe = ProxylessNAS(epochs=1, progress=False, latency=LatencyLoss(table, mode="add", target_ms=1.0))
    supernet = trainer.build(ProxylessNASSpace.small())
    probe.supernet = supernet
    start = float(probe.expected_latency().detach())
    data = _batches(2 * steps, seed=5)
    for i in range(steps):
        trainer.step(data[2 * i], data[2 * i + 1], nn.functional.cross_entropy)
    probs = {k: torch.softmax(supernet.arch.logits(k).detach(), -1).tolist() for k in supernet.arch.names}
    return start, float(probe.expected_latency().detach()), probs


def test_a_large_latency_weight_moves_the_choice_to_cheaper_operations(table: LatencyTable) -> None:
    start, heavy, probs = _final_latency(table, 1000.0)
    assert heavy < start
    for label, costs in table.choice_costs().items():  # the cheapest candidate gained, the dearest lost
        uniform = 1.0 / len(costs)
        assert probs[label][costs.index(min(costs))] > uniform > probs[label][costs.index(max(costs))], label


def test_a_proxyless_search_inside_an_experiment_records_epochs_and_exports(tmp_path: Path) -> None:
    from archspace.evaluate import Classification
    from archspace.experiment import Experiment

    g = torch.Generator().manual_seed(0)
    data = (torch.randn(16, 3, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g))
    space = ProxylessNASSpace.small()
    experiment = Experiment(space, Classification(data, data, batch_size=8),
                            ProxylessNAS(epochs=2, progress=False), directory=tmp_path, threads=1)
    trials = experiment.run()
    assert len(trials) == 1 and [row["epoch"] for row in experiment.epochs()] == [0, 1]
    sample = experiment.best(1)[0].sample
    assert space.validate(sample) == sample and set(sample) == set(space.search_space())


def test_bad_settings_are_refused(table: LatencyTable) -> None:
    with pytest.raises(ValueError, match="warmup_epochs"):
        ProxylessNAS(warmup_epochs=-1)
    with pytest.raises(ValueError, match="arch_every"):
        ProxylessNAS(arch_every=0)
    with pytest.raises(LatencyLossError, match="must be a LatencyLoss"):
        ProxylessNAS(latency=table)  # type: ignore[arg-type]
    with pytest.raises(LatencyLossError, match="does not have"):
        ProxylessNAS(latency=LatencyLoss(table)).build(Five())
    with pytest.raises(LatencyLossError, match="needs a latency term"):
        trainer = ProxylessNAS()
        trainer.build(Five())
        trainer.expected_latency()


def test_warmup_trains_only_the_weights_and_arch_every_spaces_the_arch_steps() -> None:
    torch.manual_seed(0)
    trainer = ProxylessNAS(epochs=2, warmup_epochs=1, arch_every=2, progress=False)
    data = _batches(4)
    steps: list[int] = []
    original = trainer.arch_step

    def counting(val: Any, loss_fn: Any) -> dict[str, float]:
        steps.append(trainer.epoch)
        return original(val, loss_fn)

    trainer.arch_step = counting  # type: ignore[method-assign]
    trainer.fit(ProxylessNASSpace.small(), data, data)
    assert steps == [1, 1]  # none in the warm-up epoch; batches 0 and 2 of 4 after it


def test_recomputing_the_architecture_step_changes_no_value() -> None:
    states = []
    for recompute in (True, False):
        torch.manual_seed(0)
        trainer = ProxylessNAS(epochs=1, progress=False, recompute_arch=recompute, arch_learning_rate=0.1)
        supernet = trainer.build(ProxylessNASSpace.small())
        for train, val in zip(_batches(3, seed=7), _batches(3, seed=8)):
            trainer.step(train, val, nn.functional.cross_entropy)
        states.append({k: v.detach().clone() for k, v in supernet.state_dict().items()})
        assert all(not m.savings.checkpoint_ops for m in supernet.mixed_modules())  # restored after the step
    assert all(torch.allclose(states[0][k].float(), states[1][k].float(), atol=1e-6) for k in states[0])


class SharedWidth(asp.ModelSpace):
    """A stem LayerChoice of two convolutions sharing one width choice, read again by the head:
    the width's mix is first asked inside a checkpointed op (an issue's crash)."""

    def __init__(self) -> None:
        super().__init__()
        w = asp.choice("width", [8, 16])
        self.stem = asp.LayerChoice([asp.nn.Conv2d(1, w, 3, padding=1), asp.nn.Conv2d(1, w, 5, padding=2)],
                                    label="stem")
        self.head = asp.nn.Linear(w, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.stem(x).mean((2, 3)))
        return out


def test_recomputation_replays_the_path_when_a_shared_width_is_first_read_inside_a_checkpointed_op() -> None:
    g = torch.Generator().manual_seed(3)
    data = [(torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g)) for _ in range(3)]
    states = []
    for recompute in (True, False):
        trainer = ProxylessNAS(epochs=2, progress=False, recompute_arch=recompute, arch_learning_rate=0.1)
        sample = trainer.fit(SharedWidth(), data, data)
        assert set(sample) == {"stem", "width"}
        states.append({k: v.detach().clone() for k, v in trainer.supernet.state_dict().items()}
                      | {f"arch.{k}": v.detach().clone() for k, v in trainer.supernet.arch.state_dict().items()})
    assert states[0].keys() == states[1].keys()
    assert all(torch.allclose(states[0][k].float(), states[1][k].float(), atol=1e-6) for k in states[0])


def _worker(out: Path) -> None:
    """One torchrun rank: its own data and its own seed; records the gates of every step."""
    from torch import distributed as dist

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.set_num_threads(1)
    trainer = ProxylessNAS(epochs=2, progress=False, seed=rank)  # rank 0's gate generator must win
    gates: list[dict[str, tuple[int, ...]]] = []
    original = trainer.step

    def recording(train: Any, val: Any, loss_fn: Any) -> dict[str, float]:
        result = original(train, val, loss_fn)
        gates.append({label: mix.indices for label, mix in trainer.last_arch_draw.items()})
        return result

    trainer.step = recording  # type: ignore[method-assign]
    data = _batches(6, seed=100 + rank)
    trainer.fit(ProxylessNASSpace.small(), data[:3], data[3:])
    state = {k: v.detach() for k, v in trainer.supernet.state_dict().items()}
    torch.save({"gates": gates, "state": state}, out / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()
    end_rank()


def test_torchrun_ranks_draw_the_same_gates_every_step(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           __file__, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert len(a["gates"]) == 6 and a["gates"] == b["gates"]
    assert len({str(g) for g in a["gates"]}) > 1  # the gates change from step to step
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
