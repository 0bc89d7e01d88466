"""search_space() walks the module tree once per space, and again only when the tree changes."""

from __future__ import annotations

from typing import Any

import pytest
from torch import nn

import archspace as asp
from archspace.nn import space as space_module
from archspace.testing import ExampleNet


def test_the_tree_is_walked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    space = ExampleNet()
    walks = []
    real = space_module.collect_space

    def counting(module: Any) -> Any:
        walks.append(module)
        return real(module)

    monkeypatch.setattr(space_module, "collect_space", counting)
    first = space.search_space()
    for _ in range(5):
        sample = space.random_sample(seed=1)
        space.validate(sample)
        space.freeze(sample)
    assert space.search_space() is first and [w for w in walks if w is space] == []


def test_assigning_a_module_refreshes_the_decisions() -> None:
    space = ExampleNet()
    before = set(space.search_space())
    space.extra = asp.LayerChoice({"a": nn.ReLU(), "b": nn.Tanh()}, label="extra")
    assert set(space.search_space()) == before | {"extra"}
    space.add_module("more", asp.LayerChoice([nn.ReLU(), nn.Tanh()], label="more"))
    assert "more" in space.search_space()
    space.box = nn.Sequential()
    assert "deep" not in space.search_space()
    space.box.append(asp.LayerChoice([nn.ReLU(), nn.Tanh()], label="deep"))  # deeper surgery: explicit refresh
    assert "deep" in space.refresh_search_space() and "deep" in space.search_space()
