"""Contract checks every hub model space must pass (also for your own ready-made spaces).

Each function raises ``AssertionError`` with a message on failure. The test suite runs
:func:`check_hub_space` over every space in :data:`archspace.hub.HUB`; call it from your own tests
for a space of yours::

    from archspace.testing.hub_contracts import check_hub_space
    check_hub_space(lambda: MySpace(width=8), inputs=torch.randn(2, 3, 32, 32))

The checks: random samples are valid and freeze into plain modules that run forward (finite
outputs, batch-first) and backward (finite gradients); ``count_params`` of a sample, counted on
the meta device, equals counting the frozen model; samples survive a JSON round trip and rebuild
the same network; the default sample is a working network whose output depends on its input and
whose every parameter gets a gradient; two constructions give the same decisions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from archspace.hardware.counting import count_params
from archspace.nn.mutable import Mutable
from archspace.nn.space import ModelSpace
from archspace.space.samples import Sample

SpaceFactory = Callable[[], ModelSpace]


def example_inputs(space: ModelSpace) -> torch.Tensor:
    """The space's own example batch (its ``example_input()``, as a :class:`~archspace.hub.HubSpace`
    has; a user's space needs only that method here), seeded for repeatable checks."""
    make = getattr(space, "example_input", None)
    assert callable(make), (
        f"{type(space).__name__} has no example_input(); give it one or pass inputs= to the check"
    )
    torch.manual_seed(0)
    inputs = make()
    assert isinstance(inputs, torch.Tensor), f"{type(space).__name__}.example_input() returned {type(inputs).__name__}"
    return inputs


def _tensors(output: Any) -> list[torch.Tensor]:
    """Every tensor of a forward's output (a tensor, or a tuple/list/dict of them)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    raise AssertionError(f"the forward returned {type(output).__name__}, not tensors")


def _run(model: nn.Module, inputs: torch.Tensor, what: str) -> list[torch.Tensor]:
    """Forward in eval mode: finite, batch-first outputs."""
    model.eval()
    with torch.no_grad():
        outputs = _tensors(model(inputs))
    for out in outputs:
        assert out.shape[:1] == inputs.shape[:1], f"{what}: output of shape {tuple(out.shape)} for a batch of {len(inputs)}"
        assert torch.isfinite(out).all(), f"{what}: the output has non-finite values"
    return outputs


def _backward(model: nn.Module, inputs: torch.Tensor, what: str) -> dict[str, torch.Tensor | None]:
    """A training-mode forward and backward; returns each parameter's gradient."""
    model.train()
    model.zero_grad(set_to_none=True)
    loss = sum(out.float().pow(2).mean() for out in _tensors(model(inputs)))
    assert isinstance(loss, torch.Tensor), f"{what}: the forward gave no tensor"
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    for name, grad in grads.items():
        assert grad is None or torch.isfinite(grad).all(), f"{what}: parameter {name!r} has a non-finite gradient"
    assert any(g is not None and bool(g.abs().sum() > 0) for g in grads.values()), f"{what}: no parameter got a gradient"
    return grads


def _frozen(space: ModelSpace, sample: Sample, what: str) -> nn.Module:
    model = space.freeze(sample)
    mutables = [name for name, module in model.named_modules() if isinstance(module, Mutable)]
    assert not mutables, f"{what}: the frozen model still holds decision modules at {mutables[:5]}"
    assert getattr(model, "frozen_sample", sample) == sample, f"{what}: the frozen model records another sample"
    return model


def check_sample(space: ModelSpace, sample: Sample, inputs: torch.Tensor, what: str = "the sample") -> nn.Module:
    """One sample: normalised; the same after a JSON round trip; the model frozen from the JSON
    copy holds no decision, runs forward and backward, and has as many parameters as
    ``count_params(space, sample)`` counts on the meta device. Returns the model."""
    assert space.validate(sample) == sample, f"{what} is not normalised: {sample}"
    loaded = json.loads(json.dumps(sample))
    assert loaded == sample, f"{what} changes through JSON: {sample} -> {loaded}"
    model = _frozen(space, loaded, what)
    _run(model, inputs, what)
    _backward(model, inputs, what)
    direct = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert count_params(model) == direct, f"{what}: count_params of the frozen model is not its parameter count"
    meta = count_params(space, sample)
    assert meta == direct, f"{what}: count_params on the meta device gives {meta}, the frozen model has {direct}"
    return model


def check_random_samples(space: ModelSpace, inputs: torch.Tensor, num_samples: int = 3) -> None:
    """:func:`check_sample` on random samples of seeds ``0 .. num_samples - 1``."""
    for seed in range(num_samples):
        check_sample(space, space.random_sample(seed), inputs, f"random sample {seed}")


def check_default_sample(space: ModelSpace, inputs: torch.Tensor) -> None:
    """The default sample is a working network: valid, finite output that depends on the input,
    and every parameter gets a non-zero gradient (no dead branch, no cell cut off)."""
    model = check_sample(space, space.default_sample(), inputs, "the default sample")
    first = _run(model, inputs, "the default sample")
    torch.manual_seed(1)
    second = _run(model, torch.randn_like(inputs), "the default sample")
    assert any(not torch.allclose(a, b) for a, b in zip(first, second)), (
        "the default sample's output does not depend on its input"
    )
    grads = _backward(model, inputs, "the default sample")
    dead = [name for name, g in grads.items() if g is None or not bool(g.abs().sum() > 0)]
    assert not dead, f"the default sample has parameters that get no gradient: {dead[:5]}"


def check_deterministic(factory: SpaceFactory) -> None:
    """Two constructions give the same decisions, in the same order, with the same candidates."""
    a, b = factory().search_space(), factory().search_space()
    assert list(a) == list(b), "two constructions give different labels"
    for label in a:
        assert list(a[label].values) == list(b[label].values), f"label {label!r} has different candidates"


def check_hub_space(factory: SpaceFactory, inputs: torch.Tensor | None = None, *, num_samples: int = 3) -> None:
    """Run every hub contract check on the space ``factory`` builds.

    Args:
        factory: builds the model space (e.g. ``DartsSpace.small``).
        inputs: a batch for forward passes; default: the space's ``example_input()``.
        num_samples: random samples to freeze and run.
    """
    space = factory()
    assert isinstance(space, ModelSpace) and not space.is_frozen, f"the factory gave {space!r}, not a model space"
    batch = inputs if inputs is not None else example_inputs(space)
    check_deterministic(factory)
    check_random_samples(space, batch, num_samples)
    check_default_sample(space, batch)


__all__ = ["check_default_sample", "check_deterministic", "check_hub_space", "check_random_samples", "check_sample",
           "example_inputs"]
