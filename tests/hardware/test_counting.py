from __future__ import annotations

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import SpaceDefinitionError
from archspace.testing import ExampleNet, handwritten_example


@pytest.mark.parametrize("seed", range(5))
def test_count_params_of_sample_matches_the_built_model(seed: int) -> None:
    space = ExampleNet()
    sample = space.random_sample(seed)
    expected = sum(p.numel() for p in handwritten_example(sample).parameters())
    assert asp.count_params(space, sample) == expected
    assert asp.count_params(space.freeze(sample)) == expected


def test_count_params_by_formula() -> None:
    space = ExampleNet()
    sample = {"width": 16, "op": "pool", "depth": 1, "blocks.0.act": "relu"}
    w = 16
    stem = 1 * w * 9 + w
    block = w * w * 9 + 2 * w  # conv without bias, bn weight and bias
    head = w * 10 + 10
    assert asp.count_params(space, sample) == stem + block + head


def test_count_flops_counts_multiply_accumulates() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    conv = 8 * 6 * 6 * 3 * 9
    linear = 8 * 6 * 6 * 10
    assert asp.count_flops(model, (1, 3, 6, 6)) == conv + linear
    assert asp.count_flops(model, torch.randn(2, 3, 6, 6)) == 2 * (conv + linear)


def test_count_flops_of_a_sample_grows_with_width() -> None:
    space = ExampleNet()
    base = {"op": "conv3", "depth": 1, "blocks.0.act": "relu"}
    small = asp.count_flops(space, (1, 1, 8, 8), {**base, "width": 16})
    large = asp.count_flops(space, (1, 1, 8, 8), {**base, "width": 32})
    assert small > 0 and 3.5 < large / small < 4.1  # the convolutions dominate and scale with width^2


def test_counting_a_space_needs_a_sample() -> None:
    with pytest.raises(SpaceDefinitionError, match="sample="):
        asp.count_params(ExampleNet())
    with pytest.raises(SpaceDefinitionError, match="already fixed"):
        asp.count_params(nn.Linear(2, 2), {"width": 16})
