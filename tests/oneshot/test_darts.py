"""DARTS and GumbelDARTS: they find the right op, the second-order gradient is right, exports
rebuild, conversion works on every space, checkpoints resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import archspace as asp
from archspace.hub import DartsSpace, NasBench201
from archspace.oneshot import DARTS, GumbelDARTS, OneShotTrainer, to_supernet
from archspace.testing import TEST_SPACES
from tests.oneshot.helpers import Smooth, Toy, toy_data

ALGORITHMS = {
    "darts1": lambda: DARTS(order=1, epochs=20, arch_learning_rate=3e-3, progress=False),
    "darts2": lambda: DARTS(order=2, epochs=20, arch_learning_rate=3e-3, progress=False),
    "gumbel": lambda: GumbelDARTS(epochs=20, arch_learning_rate=3e-3, progress=False),
    "gumbel_hard": lambda: GumbelDARTS(epochs=20, hard=True, arch_learning_rate=3e-3, progress=False),
}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_right_candidate_gets_the_largest_weight(name: str) -> None:
    train, val = toy_data()
    trainer: OneShotTrainer = ALGORITHMS[name]()
    sample = trainer.fit(Toy(), train, val)  # 20 epochs x 8 steps = 160 steps
    probs = trainer.supernet.arch.distribution()["op"]
    assert sample == {"op": "keep"}
    assert probs["keep"] == max(probs.values()) and probs["keep"] > 0.4


def test_second_order_gradient_matches_the_exact_unrolled_gradient() -> None:
    torch.manual_seed(0)
    trainer = DARTS(order=2, epochs=1, learning_rate=0.1, weight_decay=3e-4, progress=False)
    supernet = trainer.build(Smooth())
    supernet.double()
    with torch.no_grad():
        for p in supernet.arch_parameters():
            p.copy_(torch.randn_like(p))
    xt, yt = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    xv, yv = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    loss = torch.nn.functional.cross_entropy
    trainer.arch_optimizer.zero_grad()
    trainer.unrolled_backward((xt, yt), (xv, yv), loss)
    estimate = torch.cat([p.grad.reshape(-1) for p in supernet.arch_parameters()])  # type: ignore[union-attr]

    # Exact: d/dalpha L_val(w - xi * (dw L_train(w, alpha) + wd * w), alpha), through autograd.
    names = [f"net.{n}" for n, _ in supernet.net.named_parameters()]
    weights = [p for _, p in supernet.net.named_parameters()]
    arch = list(supernet.arch_parameters())
    call = torch.func.functional_call
    train_loss = loss(call(supernet, dict(zip(names, weights)), (xt,)), yt)
    grads = torch.autograd.grad(train_loss, weights, create_graph=True)
    unrolled = [w - 0.1 * (g + 3e-4 * w) for w, g in zip(weights, grads)]
    val_loss = loss(call(supernet, dict(zip(names, unrolled)), (xv,)), yv)
    exact = torch.cat([g.reshape(-1) for g in torch.autograd.grad(val_loss, arch)])
    first_order = torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        loss(supernet(xv), yv), arch)])
    # Tolerance: the finite-difference Hessian-vector product is O(eps^2) accurate (eps ~ 0.01/|g|).
    assert torch.allclose(estimate, exact, rtol=1e-4, atol=1e-7), (estimate, exact)
    assert not torch.allclose(first_order, exact, rtol=1e-3)  # the second-order term matters here


SPACES = {**TEST_SPACES, "nasbench201": lambda: NasBench201(channels=4, num_cells=1),
          "darts": lambda: DartsSpace(channels=4, layers=5)}
RGB = ("nasbench201", "darts")


@pytest.mark.parametrize("name", sorted(SPACES))
def test_supernet_of_every_space_runs_and_exports_a_buildable_sample(name: str, tmp_path: Path) -> None:
    space = SPACES[name]()
    supernet = to_supernet(space)
    x = torch.randn(2, 3, 32, 32) if name in RGB else torch.randn(2, 1, 8, 8)
    out = supernet(x)
    out.sum().backward()
    assert all(p.grad is not None for p in supernet.arch_parameters())
    assert {id(p) for p in supernet.arch_parameters()}.isdisjoint({id(p) for p in supernet.weight_parameters()})
    with torch.no_grad():
        for p in supernet.arch_parameters():
            p.copy_(torch.randn_like(p))
    sample = supernet.export()
    assert space.validate(sample) == sample
    asp.save_sample(sample, tmp_path / "arch.json")
    with asp.fixed_arch(tmp_path / "arch.json"):
        built = SPACES[name]()
    frozen = space.freeze(sample)
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in frozen.state_dict().items()}


def test_value_choices_mix_over_slices() -> None:
    space = TEST_SPACES["shared"]()
    supernet = to_supernet(space)
    with torch.no_grad():
        supernet.arch.logits("width").copy_(torch.tensor([20.0, -20.0]))  # all weight on width 4
    conv1 = supernet.net.conv1
    out = conv1(torch.randn(1, 1, 8, 8))
    assert out.shape[1] == 8 and out[:, 4:].abs().max() < 1e-6 and out[:, :4].abs().max() > 0


def test_cell_export_follows_the_darts_rule() -> None:
    space = TEST_SPACES["cell"]()
    supernet = to_supernet(space)
    arch = supernet.arch
    with torch.no_grad():
        for name in arch.names:
            arch.logits(name).zero_()
        # node 2 of cell1: edge from 1 strongly prefers conv3; node 4: edges from 3 and 0 are best.
        arch.logits("cell1/edge_2_1")[0] = 5.0
        arch.logits("cell1/edge_4_3")[1] = 4.0
        arch.logits("cell1/edge_4_0")[2] = 3.0
    sample = supernet.export()
    assert sample["cell1/input_2_0"] == 1 and sample["cell1/op_2_0"] == "conv3"
    assert (sample["cell1/input_4_0"], sample["cell1/op_4_0"]) == (3, "pool")
    assert (sample["cell1/input_4_1"], sample["cell1/op_4_1"]) == (0, "skip")


def test_checkpoint_resume_and_architecture_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="archspace.oneshot")
    train, val = toy_data()
    def space() -> Toy:
        torch.manual_seed(1)  # the space's own initial weights must match between the two runs
        return Toy()

    full = DARTS(order=1, epochs=4, arch_learning_rate=3e-3, progress=False)
    full.fit(space(), train, val, directory=tmp_path / "full")
    class Crash(DARTS):
        def on_epoch_start(self, epoch: int) -> None:
            if epoch == 2:
                raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        Crash(order=1, epochs=4, arch_learning_rate=3e-3, progress=False).fit(space(), train, val,
                                                                              directory=tmp_path / "part")
    second = DARTS(order=1, epochs=4, arch_learning_rate=3e-3, progress=False)
    second.fit(space(), train, val, directory=tmp_path / "part", resume=True)
    for a, b in zip(full.supernet.parameters(), second.supernet.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    history = json.loads((tmp_path / "part" / "arch_history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    assert set(history[-1]["distribution"]["op"]) == {"keep", "zero", "noise"}
    assert json.loads((tmp_path / "part" / "arch_epoch_3.json").read_text()) == second.supernet.export()
    assert "epoch 3 distribution (strongest candidate per decision): op=" in caplog.text


def test_batch_norm_keeps_the_channel_mask_and_width_gets_gradient() -> None:
    space = TEST_SPACES["shared"]()  # conv2 (width * 2 channels) -> BatchNorm2d(width * 2)
    supernet = to_supernet(space)
    with torch.no_grad():
        supernet.arch.logits("width").copy_(torch.tensor([20.0, -20.0]))  # width 4: 8 of 16 channels
    supernet.train()
    supernet(torch.randn(8, 1, 8, 8))
    norm_out = supernet.net.norm(supernet.net.conv2(supernet.net.act1(supernet.net.conv1(torch.randn(8, 1, 8, 8)))))
    assert norm_out[:, 8:].abs().max() < 1e-4 and norm_out[:, :8].abs().max() > 0.1
    with torch.no_grad():
        supernet.arch.logits("width").zero_()
    supernet(torch.randn(8, 1, 8, 8)).sum().backward()
    grad = supernet.arch.logits("width").grad
    assert grad is not None and grad.abs().max() > 1e-4


@pytest.mark.parametrize("kernel_of", [lambda k: k, lambda k: (k,)])
def test_kernel_choice_on_conv1d_and_as_tuple(kernel_of: object) -> None:
    class OneD(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            k = asp.choice("k", [3, 5])
            self.conv = asp.nn.Conv1d(2, 4, kernel_of(k), padding=k // 2)  # type: ignore[operator]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    supernet = to_supernet(OneD())
    with torch.no_grad():
        supernet.arch.logits("k").copy_(torch.tensor([30.0, -30.0]))  # kernel 3 only
    x = torch.randn(2, 2, 16)
    out = supernet(x)
    conv = supernet.net.conv.layer
    expected = torch.nn.functional.conv1d(x, conv.weight[:, :, 1:4], conv.bias, padding=1)
    assert torch.allclose(out, expected, atol=1e-5)
    out.sum().backward()
    assert supernet.arch.logits("k").grad is not None


def test_export_fills_decisions_inside_ops_of_later_terms() -> None:
    class Nested(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            ops = {"conv": lambda n, k, i: torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), asp.LayerChoice(
                       {"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh()})),
                   "skip": torch.nn.Identity()}
            self.cell = asp.Cell(ops, num_nodes=2, num_ops_per_node=2, num_predecessors=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.cell(x)

    space = Nested()
    supernet = to_supernet(space)
    with torch.no_grad():
        for name in supernet.arch.names:
            supernet.arch.logits(name).zero_()
            if name.startswith("cell/edge"):
                supernet.arch.logits(name)[0] = 3.0  # conv everywhere
            elif name.endswith(".conv.1"):
                supernet.arch.logits(name)[1] = 3.0  # tanh inside term-0 ops
    sample = supernet.export()
    assert space.validate(sample) == sample
    nested = [label for label in sample if label.endswith(".conv.1")]
    assert nested and all(sample[label] == "tanh" for label in nested)
    assert any(".ops.1.1." in label for label in nested)  # a term-1 op took its term-0 twin's choice


def test_on_epoch_receives_every_epoch_record_as_logged(tmp_path: Path) -> None:
    train, val = toy_data()
    seen: list[dict[str, object]] = []
    trainer = DARTS(order=1, epochs=2, progress=False)
    trainer.fit(Toy(), train[:2], val[:2], directory=tmp_path, on_epoch=seen.append)
    history = json.loads((tmp_path / "arch_history.json").read_text())
    assert [r["epoch"] for r in seen] == [0, 1]
    assert json.loads(json.dumps(seen)) == history  # the same records, JSON-ready
    assert {"train_loss", "val_loss", "sample", "distribution"} <= set(seen[-1])


def test_gumbel_temperature_is_linear_for_gdas_and_geometric_for_fbnet() -> None:
    """GDAS's code anneals tau linearly from tau_max to tau_min, FBNet by a constant factor per
    epoch: each mode defaults to its paper's, and either can be asked for."""
    gdas = GumbelDARTS(epochs=5, hard=True, progress=False)
    assert gdas.tau_schedule == "linear"
    assert [gdas.temperature(e) for e in range(5)] == pytest.approx([10.0, 7.525, 5.05, 2.575, 0.1])
    fbnet = GumbelDARTS(epochs=5, progress=False)
    assert fbnet.tau_schedule == "geometric"
    assert [fbnet.temperature(e) for e in range(5)] == pytest.approx([10.0, 10 ** 0.5, 1.0, 10 ** -0.5, 0.1])
    assert GumbelDARTS(epochs=5, hard=True, tau_schedule="geometric", progress=False).temperature(2) == pytest.approx(1.0)
    assert GumbelDARTS(epochs=5, tau_schedule="linear", progress=False).temperature(2) == pytest.approx(5.05)
    with pytest.raises(ValueError, match="tau_schedule must be 'linear' \\(GDAS\\), 'geometric' \\(FBNet\\)"):
        GumbelDARTS(epochs=5, tau_schedule="cosine", progress=False)


def test_gumbel_warmup_trains_weights_alone_then_anneals_over_the_rest() -> None:
    """During warmup_epochs the architecture logits stay at their start (only weights move);
    the temperature is tau_max through the warm-up and reaches tau_min at the last epoch."""
    train, val = toy_data()
    starts: list[torch.Tensor] = []

    class Spy(GumbelDARTS):
        def on_epoch_start(self, epoch: int) -> None:
            starts.append(self.supernet.arch.logits("op").detach().clone())
            super().on_epoch_start(epoch)

    trainer = Spy(epochs=4, warmup_epochs=2, hard=True, arch_learning_rate=3e-3, progress=False)
    trainer.fit(Toy(), train, val)
    final = trainer.supernet.arch.logits("op").detach()
    assert [trainer.temperature(e) for e in range(4)] == pytest.approx([10.0, 10.0, 10.0, 0.1])
    assert torch.equal(starts[0], starts[1]) and torch.equal(starts[1], starts[2])  # two epochs of weights alone
    assert not torch.equal(starts[2], final)  # the search epochs moved them
    for bad in (-1, 4, 1.5, True):
        with pytest.raises(ValueError, match="warmup_epochs"):
            GumbelDARTS(epochs=4, warmup_epochs=bad, progress=False)  # type: ignore[arg-type]
