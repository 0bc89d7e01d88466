"""Properties every test space must have, for any sample (hypothesis draws the seeds)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspace as asp
from archspace.nn.walk import holds_decisions
from archspace.testing import TEST_SPACES

SPACES = {name: cls() for name, cls in TEST_SPACES.items()}
seeds = st.integers(min_value=0, max_value=2**31 - 1)


@pytest.mark.parametrize("name", sorted(SPACES))
@settings(max_examples=15, deadline=None)
@given(seed=seeds)
def test_any_sample_freezes_to_a_plain_model_with_the_right_output(name: str, seed: int) -> None:
    space = SPACES[name]
    sample = space.random_sample(seed=seed)
    model = space.freeze(sample)
    assert holds_decisions(model) == []
    assert not any(type(m).__module__.startswith("archspace.nn") and
                   type(m).__name__ not in ("ChosenInputs", "FixedCell", "Concatenate") for m in model.modules() if m is not model)
    assert model.is_frozen and model.frozen_sample == sample  # type: ignore[attr-defined]
    assert len(model.search_space()) == 0  # type: ignore[operator]
    out = model(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10)
    out.sum().backward()  # trainable end to end


@pytest.mark.parametrize("name", sorted(SPACES))
@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_freezing_is_deterministic(name: str, seed: int) -> None:
    space = SPACES[name]
    sample = space.random_sample(seed=seed)
    torch.manual_seed(0)
    first = space.freeze(sample)
    torch.manual_seed(0)
    second = space.freeze(sample)
    a, b = first.state_dict(), second.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 1, 8, 8)
    first.eval()
    second.eval()
    assert torch.equal(first(x), second(x))


@pytest.mark.parametrize("name", sorted(SPACES))
@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_sample_json_round_trip_is_identity(name: str, seed: int) -> None:
    space = SPACES[name]
    sample = space.random_sample(seed=seed)
    again = json.loads(json.dumps(sample))
    assert again == sample
    assert space.validate(again) == sample
    assert asp.fingerprint(again) == asp.fingerprint(sample)


@pytest.mark.parametrize("name", sorted(SPACES))
def test_random_samples_leave_out_inactive_decisions(name: str) -> None:
    space = SPACES[name].search_space()
    for seed in range(200):
        sample = space.random_sample(seed)
        assert list(sample) == space.active_labels(sample)


@pytest.mark.parametrize("name", ["example", "cell", "shared"])
def test_size_of_unconditional_part(name: str) -> None:
    space = SPACES[name].search_space()
    if not space.is_conditional:
        assert space.size() == math.prod(len(d) for d in space.values())


def test_size_of_the_example_space() -> None:
    # width 3 x op 3 x (depth 1: 2 + depth 2: 4 + depth 3: 8 activation combinations)
    assert SPACES["example"].size() == 3 * 3 * (2 + 4 + 8)
    assert SPACES["shared"].size() == 4
    assert not SPACES["cell"].search_space().is_conditional
