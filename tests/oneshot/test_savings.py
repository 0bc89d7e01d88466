"""The supernet's savings change nothing in the mathematics: the same loss, the same gradients of
every weight and logit, and the same batch-norm statistics as the naive supernet (every candidate
run, every ReLU its own, every activation kept), on small DARTS and NB201 cell spaces and under
the softmax, Gumbel and single-path policies; and each saving does what it says (zero candidates
not run, one ReLU per state, activations recomputed)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

from archspace.hub import DartsSpace, NasBench201
from archspace.hub.darts import SepConv, Zero
from archspace.oneshot import Supernet, to_supernet
from archspace.oneshot.gumbel import Gumbel
from archspace.oneshot.mixed_ops import MixedLayer, Savings, weighted_form
from archspace.oneshot.spos import SampledPath

NAIVE = {"skip_zero": False, "share_relu": False, "fold_weight": False, "checkpoint_ops": False, "channels_last": False}
SAVINGS = {
    "skip_zero": {**NAIVE, "skip_zero": True},
    "share_relu": {**NAIVE, "share_relu": True},
    "fold_weight": {**NAIVE, "fold_weight": True},
    "checkpoint_ops": {**NAIVE, "checkpoint_ops": True},
    "channels_last": {**NAIVE, "channels_last": True},
    "all": {"skip_zero": True, "share_relu": True, "fold_weight": True, "checkpoint_ops": True, "channels_last": True},
}


def small_darts() -> DartsSpace:
    return DartsSpace(channels=4, layers=3, search=True)


def small_nb201() -> NasBench201:
    return NasBench201(channels=4, num_cells=1)


def supernet(space_fn: Any, savings: dict[str, bool], policy: Any = None) -> Supernet:
    """The supernet in double precision, so that "equal up to rounding" can be checked tightly."""
    torch.manual_seed(0)
    net = to_supernet(space_fn(), policy, skip_zero=savings["skip_zero"], share_relu=savings["share_relu"],
                      fold_weight=savings["fold_weight"], checkpoint_ops=savings["checkpoint_ops"],
                      channels_last=savings["channels_last"]).double()
    with torch.no_grad():  # logits away from uniform, so every weight differs
        for p in net.arch_parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return net


def run(net: Supernet, x: torch.Tensor, y: torch.Tensor, seed: int = 1) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss, then every gradient and buffer by name, after one forward-backward."""
    torch.manual_seed(seed)  # the same Gumbel draws in both runs
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    found = {f"grad:{n}": p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    found.update({f"buffer:{n}": b.clone() for n, b in net.named_buffers()})
    return loss.detach(), found


def assert_same(a: tuple[torch.Tensor, dict[str, torch.Tensor]], b: tuple[torch.Tensor, dict[str, torch.Tensor]]) -> None:
    loss_a, found_a = a
    loss_b, found_b = b
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-12, atol=1e-12)
    # A gradient the naive net has and the saving leaves out must be exactly zero (a zero op's weight).
    for name in found_a.keys() | found_b.keys():
        zero = torch.zeros_like(found_a.get(name, found_b.get(name)))  # type: ignore[arg-type]
        torch.testing.assert_close(found_a.get(name, zero), found_b.get(name, zero), rtol=1e-7, atol=1e-10,
                                   msg=f"{name} differs")
    assert any(name.startswith("grad:arch") for name in found_a), "the logits got no gradient"


@pytest.mark.parametrize("saving", sorted(SAVINGS))
@pytest.mark.parametrize("space_fn", [small_darts, small_nb201], ids=["darts", "nb201"])
def test_saving_gives_the_naive_loss_gradients_and_statistics(space_fn: Any, saving: str) -> None:
    x, y = torch.randn(6, 3, 16, 16, dtype=torch.float64), torch.randint(0, 10, (6,))
    naive = run(supernet(space_fn, NAIVE), x, y)
    saved = run(supernet(space_fn, SAVINGS[saving]), x, y)
    assert_same(naive, saved)


@pytest.mark.parametrize("saving", ["all", "checkpoint_ops"])
def test_savings_under_gumbel_draw_the_same_weights_and_gradients(saving: str) -> None:
    x, y = torch.randn(4, 3, 16, 16, dtype=torch.float64), torch.randint(0, 10, (4,))
    naive = run(supernet(small_nb201, NAIVE, Gumbel(tau=1.0)), x, y)
    saved = run(supernet(small_nb201, SAVINGS[saving], Gumbel(tau=1.0)), x, y)
    assert_same(naive, saved)


def test_a_path_of_only_zero_ops_still_runs_with_the_right_shape() -> None:
    path = {f"edge_{k}_{j}": "none" for k in range(1, 4) for j in range(k)}
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    outputs = []
    for savings in (NAIVE, SAVINGS["all"]):
        net = supernet(small_nb201, savings, SampledPath(path))
        outputs.append(net(x))
        outputs[-1].sum().backward()
    torch.testing.assert_close(outputs[0], outputs[1])


@pytest.mark.parametrize("skip", [False, True])
def test_zero_candidates_are_not_run_when_skipped(skip: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    net = supernet(small_darts, {**NAIVE, "skip_zero": skip})
    calls: list[int] = []
    forward = Zero.forward

    def counting(self: Zero, x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return forward(self, x)

    monkeypatch.setattr(Zero, "forward", counting)
    net(torch.randn(2, 3, 16, 16, dtype=torch.float64)).sum().backward()
    assert (len(calls) == 0) == skip
    # A zero candidate watched by a hook runs, so that the hook sees it.
    seen: list[int] = []
    next(m for m in net.modules() if isinstance(m, Zero)).register_forward_hook(lambda *_: seen.append(1))
    net(torch.randn(2, 3, 16, 16, dtype=torch.float64))
    assert len(seen) == 1


@pytest.mark.parametrize("share", [False, True])
def test_one_relu_per_state_when_shared(share: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    net = supernet(small_nb201, {**NAIVE, "share_relu": share})
    calls: list[int] = []
    relu = torch.relu

    def counting_relu(t: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return relu(t)

    monkeypatch.setattr(torch, "relu", counting_relu)
    net(torch.randn(2, 3, 16, 16, dtype=torch.float64))  # nn.ReLU calls torch.relu too (the in-place last one: relu_)
    # NB201 cell: 6 edges, two ReLU-conv ops each; shared: one ReLU per state read (3 states).
    # Plus the two reduction blocks' two ReLU-conv units, which are not mixed ops.
    mixed_relus = len(calls) - 2 * 2
    assert mixed_relus == (3 * 3 if share else 12 * 3)


@pytest.mark.parametrize("affine", [False, True])
def test_weighted_form_equals_the_weighted_module(affine: bool) -> None:
    torch.manual_seed(0)
    # In double precision, so that "the same up to rounding" can be checked tightly.
    op = nn.Sequential(SepConv(4, 4, 3, 1, 1, affine=affine), nn.Identity()).double()
    twin = copy.deepcopy(op)
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    w = torch.tensor(0.3, requires_grad=True, dtype=torch.float64)
    form = weighted_form(op, Savings())
    assert form is not None and form[0]
    got = form[1](torch.relu(x), w)
    want = w * twin(x)
    torch.testing.assert_close(got, want)
    grad_got = torch.autograd.grad(got.square().sum(), [w, *op.parameters()])
    grad_want = torch.autograd.grad(want.square().sum(), [w, *twin.parameters()])
    for a, b in zip(grad_got, grad_want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    for a, b in zip(op.buffers(), twin.buffers()):  # the same running statistics
        torch.testing.assert_close(a, b)
    # No saving applies: left to the plain call; an in-place leading ReLU would write into x.
    assert weighted_form(nn.Sequential(nn.ReLU(inplace=True), nn.Identity()), Savings()) is None
    assert weighted_form(nn.Sequential(nn.Identity(), nn.ReLU()), Savings()) is None


def test_checkpointed_ops_keep_fewer_activations() -> None:
    """Fewer tensors saved for backward (the saving that checkpointing is for)."""
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    saved_bytes = []
    for checkpointing in (False, True):
        net = supernet(small_darts, {**NAIVE, "checkpoint_ops": checkpointing})
        total = [0]

        def pack(t: torch.Tensor, total: list[int] = total) -> torch.Tensor:
            total[0] += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = net(x)
        saved_bytes.append(total[0])
        out.sum().backward()
    assert saved_bytes[1] < saved_bytes[0] / 3, saved_bytes


def test_mixed_layers_carry_the_supernets_savings() -> None:
    net = to_supernet(small_nb201(), checkpoint_ops=True, share_relu=False)
    layers = [m for m in net.modules() if isinstance(m, MixedLayer)]
    assert layers and all(m.savings == net.savings for m in layers)
    assert net.savings == Savings(skip_zero=True, share_relu=False, fold_weight=True, checkpoint_ops=True)
