"""Weighting policies: one policy per pass decides which candidates run; only those compute and
get gradients; shared labels agree within a pass; swapping the policy needs no module changes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import InvalidValueError
from archspace.oneshot import BinaryGates, Gumbel, OneShotTrainer, SampledPath, Softmax, to_supernet
from archspace.oneshot.loop import Batch, LossFn
from archspace.testing import ExampleNet, SharedNet
from archspace.testing.oneshot_contracts import check_oneshot


class Boom(nn.Module):
    """A candidate that must never run."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("an unsampled candidate ran")


class Counting(nn.Linear):
    """A linear candidate that counts its calls."""

    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        return super().forward(x)


class Paths(asp.ModelSpace):
    """A LayerChoice (one trap), an InputChoice, a Repeat whose third block is a trap."""

    def __init__(self) -> None:
        super().__init__()
        self.op = asp.LayerChoice({"good": nn.Linear(4, 4), "other": nn.Linear(4, 4), "trap": Boom()}, label="op")
        self.pick = asp.InputChoice(2, 1, "sum", label="pick")
        self.stack = asp.Repeat(lambda i: Boom() if i == 2 else nn.Linear(4, 4), depth=asp.choice("depth", [1, 2, 3]))
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.op(x)
        return self.head(self.stack(self.pick([x, y])))


def test_sampled_path_runs_and_trains_only_the_chosen_candidates() -> None:
    supernet = to_supernet(Paths(), SampledPath({"op": "good", "pick": 1, "depth": 2}))
    out = supernet(torch.randn(3, 4))  # "trap" and the third block would raise
    out.sum().backward()
    net = supernet.net
    assert net.op.candidates["good"].weight.grad is not None
    assert net.op.candidates["other"].weight.grad is None
    assert all(net.stack.blocks[i].weight.grad is not None for i in (0, 1))
    assert all(p.grad is None for p in supernet.arch_parameters())  # a sampled path leaves the logits alone


def test_sampled_path_draws_uniformly_from_its_own_seeded_generator() -> None:
    class Two(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.op = asp.LayerChoice([Counting(4, 4), nn.Identity()], label="op")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.op(x)

    def draws(seed: int) -> list[int]:
        policy = SampledPath(seed=seed)
        supernet = to_supernet(Two(), policy)
        picked = []
        for _ in range(40):
            Counting.calls = 0
            torch.manual_seed(0)  # the global generator must not matter
            supernet(torch.randn(1, 4))
            picked.append(0 if Counting.calls else 1)
        return picked

    first = draws(3)
    assert first == draws(3) and first != draws(4)
    assert 10 <= sum(first) <= 30  # both candidates drawn, about equally often


def test_sampled_path_refuses_a_value_outside_the_decision() -> None:
    supernet = to_supernet(Paths(), SampledPath({"op": "missing"}))
    with pytest.raises(InvalidValueError, match="'op'.*'missing'"):
        supernet(torch.randn(1, 4))


def test_shared_labels_take_one_sample_per_pass() -> None:
    supernet = to_supernet(SharedNet(), SampledPath(seed=1))  # "act" is used twice
    seen: list[type[nn.Module]] = []
    for name in ("act1", "act2"):
        for module in getattr(supernet.net, name).candidates.values():
            module.register_forward_hook(lambda m, i, o: seen.append(type(m)))
    for _ in range(6):
        seen.clear()
        supernet(torch.randn(2, 1, 8, 8))
        assert len(seen) == 2 and seen[0] is seen[1]


def test_binary_gates_run_one_path_in_the_weight_step_and_two_in_the_architecture_step() -> None:
    class Four(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.op = asp.LayerChoice([Counting(4, 4) for _ in range(4)], label="op")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.op(x)

    gates = BinaryGates(paths=1, seed=0)
    supernet = to_supernet(Four(), gates)
    x = torch.randn(2, 4)
    Counting.calls = 0
    out, drawn = supernet.run(x)
    out.sum().backward()
    (one,) = drawn["op"].indices
    assert Counting.calls == 1
    grads = [m.weight.grad is not None for m in supernet.net.op.candidates.values()]
    assert grads == [i == one for i in range(4)]

    supernet.zero_grad(set_to_none=True)
    gates.paths = 2
    Counting.calls = 0
    out, drawn = supernet.run(x)
    pair = drawn["op"].indices
    assert Counting.calls == 2 and len(set(pair)) == 2
    # The forward value is one of the two paths (binary gates), the gradient reaches both logits.
    candidates = list(supernet.net.op.candidates.values())
    assert any(torch.allclose(out, candidates[i](x), atol=1e-6) for i in pair)
    out.pow(2).sum().backward()
    grad = supernet.arch.logits("op").grad
    assert grad is not None
    assert all((grad[i] != 0) == (i in pair) for i in range(4))


def test_hard_gumbel_runs_only_the_sampled_candidate_and_softmax_all() -> None:
    class Three(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.op = asp.LayerChoice([Counting(4, 4) for _ in range(3)], label="op")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.op(x)

    supernet = to_supernet(Three(), Gumbel(tau=1.0, hard=True))
    Counting.calls = 0
    supernet(torch.randn(2, 4)).sum().backward()
    assert Counting.calls == 1
    assert supernet.arch.logits("op").grad is not None  # straight-through
    with supernet.using(Softmax()):
        Counting.calls = 0
        supernet(torch.randn(2, 4))
        assert Counting.calls == 3
    assert isinstance(supernet.policy, Gumbel)  # restored after the block
    supernet.eval()
    Counting.calls = 0
    supernet(torch.randn(2, 4))
    assert Counting.calls == 3  # evaluation mixes by the softmax


def test_no_mixed_module_holds_a_policy_or_per_pass_state() -> None:
    supernet = to_supernet(ExampleNet(), Gumbel(hard=True))
    for module in supernet.net.modules():
        assert not {"policy", "tau", "hard", "_cache"} & set(vars(module)), type(module).__name__


class SinglePath(OneShotTrainer):
    """An unregistered single-path trainer (uniform SPOS-style weight steps) for the contract."""

    def make_policy(self) -> SampledPath:
        return SampledPath(seed=self.seed)

    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        return {"train_loss": self.weight_step(train, loss_fn)}


def test_a_sampled_path_trainer_passes_the_contract_and_resumes_its_draws() -> None:
    check_oneshot(SinglePath, ExampleNet, torch.randn(2, 1, 8, 8), num_classes=10)


def test_sampled_path_follows_a_new_sample_and_saves_its_generator() -> None:
    policy = SampledPath(seed=5)
    state = policy.state_dict()
    first = [policy.mix("op", torch.zeros(3), ["a", "b", "c"], training=True).indices for _ in range(8)]
    policy.load_state_dict(state)
    assert [policy.mix("op", torch.zeros(3), ["a", "b", "c"], training=True).indices for _ in range(8)] == first
    policy.follow({"op": "c"})
    assert policy.mix("op", torch.zeros(3), ["a", "b", "c"], training=True).indices == (2,)


class Zeroable(asp.ModelSpace):
    """One LayerChoice of two linear maps and a zero op (NB201's ``none``)."""

    def __init__(self) -> None:
        super().__init__()
        self.op = asp.LayerChoice({"a": nn.Linear(4, 3), "b": nn.Linear(4, 3), "none": Zero()}, label="op")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.op(x)
        return out


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], 3)


@pytest.mark.parametrize("undrawn_terms", [False, True])
def test_gdas_undrawn_terms_are_its_codes_scalar_weights(undrawn_terms: bool) -> None:
    """GDAS's ``forward_gdas`` exactly: the output is the drawn candidate's alone, and with the
    undrawn terms each other candidate's straight-through weight joins it as a scalar, so the
    logits' gradient is ``(1/tau) y_i (c_i - sum_j y_j c_j)`` with ``c_drawn = <g, o_drawn>`` and
    ``c_j = sum(g)`` for the others (``y`` the Gumbel softmax sample, ``g = dL/dout``); without
    them ``c_j = 0``. A drawn ``none`` then still moves the logits, where alone it moves none."""
    tau = 2.0
    logits = torch.tensor([0.2, -0.3, 0.4])
    x, target = torch.randn(5, 4), torch.randn(5, 3)
    drawn_seen = set()
    for seed in range(40):
        supernet = to_supernet(Zeroable(), Gumbel(tau=tau, hard=True, undrawn_terms=undrawn_terms))
        with torch.no_grad():
            supernet.arch.logits("op").copy_(logits)
        torch.manual_seed(seed)
        out, drawn = supernet.run(x)
        (out * target).sum().backward()  # g = target
        torch.manual_seed(seed)
        y = nn.functional.gumbel_softmax(logits, tau=tau, hard=False)  # the same Gumbel draw
        k = int(y.argmax())
        assert drawn["op"].indices == (k,)
        drawn_seen.add(k)
        ops = list(supernet.net.op.candidates.values())
        with torch.no_grad():
            assert torch.equal(out, ops[k](x))  # the scalars are zero in value
            c = torch.full((3,), float(target.sum()) if undrawn_terms else 0.0)
            c[k] = (ops[k](x) * target).sum()
        expected = y * (c - (y * c).sum()) / tau
        grad = supernet.arch.logits("op").grad
        assert grad is not None
        assert torch.allclose(grad, expected, atol=1e-5), (seed, grad, expected)
        if k == 2:  # none drawn: its output is zero, so only the scalar terms can move the logits
            assert bool((grad != 0).any()) == undrawn_terms
    assert drawn_seen == {0, 1, 2}


def test_gdas_undrawn_terms_need_hard_samples() -> None:
    from archspace.oneshot import GumbelDARTS

    with pytest.raises(ValueError, match="undrawn_terms .* needs hard=True"):
        GumbelDARTS(undrawn_terms=True, progress=False)
    assert GumbelDARTS(hard=True, undrawn_terms=True, progress=False).make_policy().undrawn_terms
