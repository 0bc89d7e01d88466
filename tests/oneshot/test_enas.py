"""ENAS: the controller learns from validation rewards, the skip penalty steers the skip rate,
the supernet runs exactly the drawn path (cells included), and torchrun ranks draw alike."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import ArchspaceError, MissingLabelError
from archspace.hub import EnasMacroSpace, EnasMicroSpace
from archspace.oneshot import ENAS, ONESHOT, ControllerPath, to_supernet
from archspace.oneshot.spos import uniform_path
from archspace.testing.oneshot_contracts import _free_port, end_rank, one_thread


class Negate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0


def _identity_linear() -> nn.Linear:
    layer = nn.Linear(4, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(4))
        layer.bias.zero_()
    return layer


class Toy(asp.ModelSpace):
    """Label = argmax of the 4 inputs; an identity head (its bias trains). 'keep' (a trainable linear map
    starting as the identity) gives accuracy ~1, 'negate' picks the argmin (~0), 'zero' ~1/4."""

    def __init__(self) -> None:
        super().__init__()
        self.op = asp.LayerChoice({"zero": Zero(), "negate": Negate(), "keep": _identity_linear()}, label="op")
        self.head = _identity_linear()
        self.head.weight.requires_grad_(False)  # only its bias trains on every path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.op(x))  # type: ignore[no-any-return]


def _toy_batches(count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        x = torch.randn(16, 4, generator=g)
        out.append((x, x.argmax(1)))
    return out


def test_the_controller_learns_the_clearly_better_operation() -> None:
    # A baseline that follows the rewards within a few steps: with the official 0.99 and a
    # controller this fast, whichever op is drawn first gets a positive advantage for long.
    trainer = ENAS(epochs=1, seed=0, progress=False, learning_rate=0.01, controller_learning_rate=0.02,
                   baseline_decay=0.9, entropy_weight=0.0, controller_steps=2)
    trainer.build(Toy())
    before = float(trainer.controller.greedy().probs["op"][2].detach())
    with one_thread():
        sample = trainer.fit(trainer.supernet, _toy_batches(30, 0), _toy_batches(30, 1))
    after = float(trainer.controller.greedy().probs["op"][2].detach())
    assert before < 0.45 and after > before + 0.3, (before, after)
    assert sample == {"op": "keep"} == trainer.supernet.export() == trainer.derive()
    best, score = trainer.best_of(_toy_batches(2, 2), n=5)
    assert best == {"op": "keep"} and score > 0.9


def _skip_rate(trainer: ENAS, draws: int = 40) -> float:
    g = torch.Generator().manual_seed(123)
    total = 0.0
    with torch.no_grad():
        for _ in range(draws):
            sample = trainer.controller.trace(generator=g).sample
            total += sum(sample[label] for label in trainer.skip_labels) / len(trainer.skip_labels)
    return total / draws


@pytest.mark.parametrize("target", [0.1, 0.9])
def test_the_skip_penalty_pulls_the_skip_rate_toward_its_target(target: float) -> None:
    trainer = ENAS(epochs=1, seed=0, progress=False, skip_target=target, skip_weight=5.0, entropy_weight=0.0,
                   controller_learning_rate=0.05)
    torch.manual_seed(0)
    trainer.build(EnasMacroSpace(width=2, num_layers=4))
    assert len(trainer.skip_labels) == 6
    start = _skip_rate(trainer)
    val = (torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,)))
    with one_thread():
        stats = [trainer.controller_step(val, nn.functional.cross_entropy) for _ in range(25)]
    end = _skip_rate(trainer)
    assert 0.3 < start < 0.7
    if target > 0.5:
        assert end > start + 0.2, (start, end)
    else:
        assert end < start - 0.2, (start, end)
    assert all(0 <= s["skip_rate"] <= 1 for s in stats)


@pytest.mark.parametrize("factory", [EnasMacroSpace.small, EnasMicroSpace.small], ids=["macro", "micro"])
def test_the_supernet_computes_exactly_the_drawn_path(factory: Any) -> None:
    torch.manual_seed(0)
    space = factory()
    x = space.example_input(3)
    g = torch.Generator().manual_seed(0)
    trainer = ENAS(seed=0, progress=False)
    supernet = trainer.build(space)
    supernet.eval()
    for _ in range(3):
        sample = trainer.controller.trace(generator=g).sample
        trainer.follow(sample)
        with torch.no_grad():
            expected = supernet.subnet(sample)(x)
            assert torch.allclose(supernet(x), expected, atol=1e-5)


def test_micro_cells_follow_the_sampled_wiring_and_export_it() -> None:
    torch.manual_seed(0)
    space = EnasMicroSpace.small()
    sample = space.random_sample(3)
    supernet = to_supernet(space, ControllerPath(sample))
    supernet(space.example_input())
    for cell in supernet.cells:
        cell.pin(cell.wiring_of(sample))
    exported = supernet.export()
    assert {k: v for k, v in exported.items() if "/" in k} == {k: v for k, v in sample.items() if "/" in k}
    with pytest.raises(MissingLabelError, match="normal/input_2_0"):
        to_supernet(space, ControllerPath({}))(space.example_input())


def test_resumed_state_and_a_checkpointed_controller() -> None:
    trainer = ENAS(epochs=1, seed=0, progress=False)
    trainer.build(Toy())
    state = trainer.state_dict()
    assert {"controller", "controller_optimizer", "controller_generator", "baseline"} <= set(state)
    assert ONESHOT.create("enas", epochs=1).epochs == 1


@pytest.mark.parametrize("kwargs", [{"skip_target": 1.0}, {"baseline_decay": 1.0}, {"controller_steps": 0}])
def test_bad_settings_are_named(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ArchspaceError, match=next(iter(kwargs))):
        ENAS(**kwargs)


class _Recording(ENAS):
    """Records every path the shared-weight step trains."""

    def build(self, space: Any, device: Any = "cpu") -> Any:
        self.trained: list[dict[str, Any]] = []
        return super().build(space, device)

    def weight_step(self, train: Any, loss_fn: Any) -> float:
        self.trained.append(dict(self.policy.sample or {}))  # type: ignore[attr-defined]
        return super().weight_step(train, loss_fn)


def _rank_main(rank: int, port: int, out: str) -> None:
    from torch import distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(rank)
        g = torch.Generator().manual_seed(10 + rank)  # each rank its own data shard
        data = [(torch.randn(2, 3, 8, 8, generator=g), torch.randint(0, 10, (2,), generator=g)) for _ in range(8)]
        trainer = _Recording(epochs=1, seed=0, progress=False)
        trainer.fit(EnasMacroSpace.small(), data[:4], data[4:])
        torch.save({"paths": trainer.trained, "controller": trainer.controller.state_dict()}, Path(out, f"{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    end_rank()


def test_torchrun_ranks_draw_the_same_path_every_step() -> None:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(_rank_main, args=(_free_port(), tmp), nprocs=2, join=True, start_method="spawn")
        a, b = (torch.load(Path(tmp, f"{r}.pt"), weights_only=True) for r in (0, 1))
    assert len(a["paths"]) == 4 and a["paths"] == b["paths"]
    assert len({str(sorted(p.items())) for p in a["paths"]}) > 1  # it does draw, not repeat one path
    assert all(torch.equal(a["controller"][k], b["controller"][k]) for k in a["controller"])


class _Watched(_Recording):
    """Also records the epoch of every controller update and the controller as it was before the first."""

    def build(self, space: Any, device: Any = "cpu") -> Any:
        supernet = super().build(space, device)
        self.initial = {k: v.clone() for k, v in self.controller.state_dict().items()}
        self.updates: list[int] = []
        self.before_first: dict[str, torch.Tensor] | None = None
        return supernet

    def controller_step(self, val: Any, loss_fn: Any) -> dict[str, float]:
        if self.before_first is None:
            self.before_first = {k: v.clone() for k, v in self.controller.state_dict().items()}
        self.updates.append(self.epoch)
        return super().controller_step(val, loss_fn)


def test_the_warm_up_trains_uniform_paths_and_leaves_the_controller_alone() -> None:
    trainer = _Watched(epochs=3, warmup_epochs=2, seed=0, progress=False, controller_steps=1)
    train, val = _toy_batches(60, 0), _toy_batches(60, 1)
    with one_thread():
        trainer.fit(Toy(), train, val)
    assert trainer.updates == [2] * 60  # the controller learns in the last epoch only, once per batch
    assert trainer.before_first is not None
    assert all(torch.equal(trainer.initial[k], trainer.before_first[k]) for k in trainer.initial)
    g = torch.Generator().manual_seed(0)  # the trainer's generator, as seeded: uniform draws from it
    assert trainer.trained[:120] == [uniform_path({"op": ["zero", "negate", "keep"]}, g) for _ in range(120)]
    counts = {op: sum(path["op"] == op for path in trainer.trained[:120]) for op in ("zero", "negate", "keep")}
    assert all(20 <= n <= 60 for n in counts.values()), counts  # uniform: 40 each expected of 120
    moved = any(not torch.equal(trainer.initial[k], v) for k, v in trainer.controller.state_dict().items())
    assert moved and trainer.baseline is not None


def test_the_warm_up_draws_whole_wirings_of_micro_cells() -> None:
    torch.manual_seed(0)
    space = EnasMicroSpace.small()
    g = torch.Generator().manual_seed(0)
    data = [(space.example_input(2), torch.randint(0, 10, (2,), generator=g)) for _ in range(4)]
    trainer = _Watched(epochs=2, warmup_epochs=1, seed=0, progress=False)
    with one_thread():
        trainer.fit(space, data, data)
    warm = trainer.trained[:4]
    g = torch.Generator().manual_seed(0)
    values = {label: list(d.values) for label, d in space.search_space().items()}
    assert warm == [space.validate(uniform_path(values, g)) for _ in range(4)]
    assert len({str(sorted(p.items())) for p in warm}) == 4  # four different paths, every label drawn
    assert all(space.validate(p) == p for p in warm) and trainer.updates == [1] * 4


@pytest.mark.parametrize("value", [-1, 2, 1.5, True])
def test_a_bad_warm_up_is_named(value: Any) -> None:
    with pytest.raises(ArchspaceError, match=r"warmup_epochs must be an integer in \[0, epochs=2\)"):
        ENAS(epochs=2, warmup_epochs=value)
    assert ENAS(epochs=0).warmup_epochs == 0  # no warm-up asked: any epochs
