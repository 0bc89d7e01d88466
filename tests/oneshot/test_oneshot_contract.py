"""The one-shot contract over every registered algorithm and every hub space (no list to edit)."""

from __future__ import annotations

import time

import pytest
import torch

from archspace.hub import HUB, HubSpace
from archspace.oneshot import ONESHOT
from archspace.testing import SharedNet
from archspace.testing.oneshot_contracts import check_oneshot, check_two_ranks_identical, oneshot_form


def _inputs(space: str) -> torch.Tensor:
    """The small one-shot form's own example batch (:class:`~archspace.hub.HubSpace`), seeded."""
    small = oneshot_form(space)()
    assert isinstance(small, HubSpace)
    torch.manual_seed(0)
    return small.example_input()


@pytest.mark.parametrize("space", sorted(HUB))
@pytest.mark.parametrize("algorithm", sorted(ONESHOT))
def test_one_shot_contract(algorithm: str, space: str) -> None:
    start = time.perf_counter()
    check_oneshot(algorithm, oneshot_form(space), _inputs(space), num_classes=10)
    print(f"{algorithm} on {space}: {time.perf_counter() - start:.1f}s")


@pytest.mark.parametrize("algorithm", sorted(ONESHOT))
def test_two_gloo_ranks_end_identical(algorithm: str) -> None:
    check_two_ranks_identical(algorithm, SharedNet, torch.randn(4, 1, 8, 8), num_classes=10)


def _covering_pairs() -> list[tuple[str, str]]:
    """Every hub space with one algorithm, every algorithm on at least one hub space (rotating).

    Two real gloo processes per check make the full product (algorithms x spaces) minutes of the
    suite; what can differ between ranks is per algorithm (its policy's draws, its gradient
    averaging: each checked on SharedNet above) and per space (its decision types and buffers), so
    covering each of both on hub spaces keeps the pairs that can fail.
    """
    algorithms, spaces = sorted(ONESHOT), sorted(HUB)
    count = max(len(algorithms), len(spaces))
    return [(algorithms[i % len(algorithms)], spaces[i % len(spaces)]) for i in range(count)]


@pytest.mark.parametrize("algorithm, space", _covering_pairs())
def test_two_gloo_ranks_end_identical_on_hub_spaces(algorithm: str, space: str) -> None:
    check_two_ranks_identical(algorithm, oneshot_form(space), _inputs(space), num_classes=10)


def test_a_typo_in_a_one_shot_setting_names_the_accepted_arguments() -> None:
    name = sorted(ONESHOT)[0]
    with pytest.raises(TypeError, match=r"does not take 'epoch'; accepted arguments: \[.*'epochs'"):
        ONESHOT.create(name, epoch=2)
