"""A short contract over every registered one-shot algorithm (no list to edit).

Each algorithm in :data:`archspace.oneshot.ONESHOT`, built by name, converts a small test space,
runs a few steps through its direct ``fit`` API on tiny random data, moves its architecture
parameters, exports a sample that the space accepts and freezes into a working network, and
repeats the same run under the same seed.
"""

from __future__ import annotations

import pytest
import torch

from archspace.oneshot import ONESHOT, OneShotTrainer
from archspace.testing import ExampleNet

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def tiny_data(seed: int) -> tuple[Batches, Batches]:
    """Two training and two validation batches of 8x8 single-channel images, 10 classes."""
    g = torch.Generator().manual_seed(seed)
    batches = [(torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g)) for _ in range(4)]
    return batches[:2], batches[2:]


def search(name: str) -> tuple[OneShotTrainer, dict[str, object], list[torch.Tensor]]:
    """Fit algorithm ``name`` for 2 epochs x 2 steps; return it, its export and initial logits."""
    torch.manual_seed(0)
    space = ExampleNet()
    trainer = ONESHOT.create(name, epochs=2, seed=0, progress=False)
    initial = [p.detach().clone() for p in ONESHOT.create(name, seed=0).build(ExampleNet()).arch_parameters()]
    train, val = tiny_data(0)
    sample = trainer.fit(space, train, val)
    return trainer, dict(sample), initial


@pytest.mark.parametrize("name", sorted(ONESHOT))
def test_registered_one_shot_algorithm_searches_and_exports_a_valid_sample(name: str) -> None:
    trainer, sample, initial = search(name)
    assert isinstance(trainer, OneShotTrainer) and trainer.epoch == 2
    final = list(trainer.supernet.arch_parameters())
    assert len(final) == len(initial) > 0
    assert any(not torch.equal(a, b.detach()) for a, b in zip(initial, final)), "architecture parameters never moved"
    space = ExampleNet()
    assert space.validate(sample) == sample
    model = space.freeze(sample)
    out = model(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("name", sorted(ONESHOT))
def test_registered_one_shot_algorithm_is_reproducible(name: str) -> None:
    first, sample_a, _ = search(name)
    second, sample_b, _ = search(name)
    assert sample_a == sample_b
    for a, b in zip(first.supernet.arch_parameters(), second.supernet.arch_parameters()):
        assert torch.equal(a, b)


def test_a_typo_in_a_one_shot_setting_names_the_accepted_arguments() -> None:
    name = sorted(ONESHOT)[0]
    with pytest.raises(TypeError, match=r"does not take 'epoch'; accepted arguments: \[.*'epochs'"):
        ONESHOT.create(name, epoch=2)
