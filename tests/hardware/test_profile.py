"""profile(): sums of per-unit figures that equal direct counting of the frozen model exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import SampleError, SpaceDefinitionError
from archspace.hardware import Profiler, count_flops, count_params, profile
from archspace.hardware._decompose import run_counted
from archspace.hardware.profile import profiler
from archspace.hub import HUB
from archspace.nn.space import ModelSpace
from archspace.testing import ExampleNet


@pytest.fixture(scope="module", params=HUB.list())
def hub_space(request: pytest.FixtureRequest) -> ModelSpace:
    return HUB.get(request.param).small()  # type: ignore[attr-defined, no-any-return]


def _frozen_bytes(space: ModelSpace, sample: dict[str, object], shape: tuple[int, ...]) -> int:
    with torch.device("meta"):
        model = space.freeze(sample)
    model.eval()
    return run_counted(model, (torch.empty(shape, device="meta"),), {})[1]


def test_profile_equals_direct_counting_on_every_hub_space(hub_space: ModelSpace) -> None:
    prof = profiler(hub_space)
    assert prof.exact_decomposition, prof.decomposition.reason  # every hub space splits into units
    samples = [hub_space.default_sample()] + [hub_space.random_sample(seed) for seed in range(10, 16)]
    for sample in samples:
        p = profile(hub_space, sample)  # from the unit table, or counted directly where units do not add up
        assert p.exact_decomposition == prof.exact_decomposition
        assert p.params == count_params(hub_space, sample)
        assert p.flops == count_flops(hub_space, prof.input_shape, sample)
        assert p.activation_bytes == _frozen_bytes(hub_space, sample, prof.input_shape)


def test_profiles_of_different_samples_differ_and_are_cached(hub_space: ModelSpace) -> None:
    assert profiler(hub_space) is profiler(hub_space)
    figures = {profile(hub_space, hub_space.random_sample(seed)).flops for seed in range(8)}
    assert len(figures) > 1


class Tiny(asp.ModelSpace):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.op = asp.LayerChoice({"conv": nn.Conv2d(2, 2, 1), "skip": nn.Identity()}, label="op")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(self.stem(x))  # type: ignore[no-any-return]


def test_activation_bytes_by_hand() -> None:
    space = Tiny()
    out = 2 * 8 * 8 * 4  # one float32 map of 2 channels, 8x8
    skip = profile(space, {"op": "skip"}, input_shape=(1, 1, 8, 8))
    conv = profile(space, {"op": "conv"}, input_shape=(1, 1, 8, 8))
    assert skip.activation_bytes == out  # the identity creates nothing
    assert conv.activation_bytes == 2 * out
    assert conv.params - skip.params == 2 * 2 + 2
    assert conv.flops - skip.flops == 2 * 2 * 8 * 8
    assert profile(space, {"op": "conv"}, input_shape=(3, 1, 8, 8)).activation_bytes == 3 * 2 * out


def test_a_width_choice_keys_every_unit_by_it() -> None:
    space = ExampleNet()  # the width choice changes the inputs of plain modules (pooling, ReLU)
    prof = Profiler(space, (1, 1, 8, 8))
    assert prof.exact_decomposition, prof.decomposition.reason
    assert "width" in prof.decomposition.units["op.pool"].key_labels
    for seed in range(6):
        sample = space.random_sample(seed)
        p = prof.profile(sample)
        assert p.params == count_params(space, sample)
        assert p.flops == count_flops(space, (1, 1, 8, 8), sample)
        assert p.activation_bytes == _frozen_bytes(space, sample, (1, 1, 8, 8))


class Strided(asp.ModelSpace):
    """A stride chosen by a LayerChoice changes the input of the plain convolution after it."""

    def __init__(self) -> None:
        super().__init__()
        self.op = asp.LayerChoice([nn.Conv2d(1, 2, 3, 1, 1), nn.Conv2d(1, 2, 3, 2, 1)], label="stride")
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.op(x))  # type: ignore[no-any-return]


def test_a_space_whose_units_do_not_add_up_is_counted_directly_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    space = Strided()
    prof = Profiler(space, (1, 1, 8, 8))
    with caplog.at_level("WARNING", logger="archspace"):
        assert not prof.exact_decomposition
    assert "fixed part" in prof.decomposition.reason and "not separable" in caplog.text
    for value in (0, 1):
        p = prof.profile({"stride": value})
        assert not p.exact_decomposition
        assert p.params == count_params(space, {"stride": value})
        assert p.flops == count_flops(space, (1, 1, 8, 8), {"stride": value})
    assert prof.profile({"stride": 0}).flops == (1 * 2 * 9 + 2 * 2 * 9) * 8 * 8
    assert prof.profile({"stride": 1}).flops == (1 * 2 * 9 + 2 * 2 * 9) * 4 * 4


def test_bad_input_is_refused() -> None:
    space = Tiny()
    with pytest.raises(SpaceDefinitionError, match="example_input"):
        profile(space, {"op": "skip"})
    with pytest.raises(SpaceDefinitionError, match="input_shape"):
        profile(space, {"op": "skip"}, input_shape=(1, 0, 8))
    with pytest.raises(SampleError, match="op"):
        profile(space, {"op": "pool"}, input_shape=(1, 1, 8, 8))
    with pytest.raises(SpaceDefinitionError, match="not"):
        Profiler(space.freeze({"op": "skip"}), (1, 1, 8, 8))  # type: ignore[arg-type]
