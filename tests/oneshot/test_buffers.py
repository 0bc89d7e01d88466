"""``kept_buffers``: a measurement pass in train mode leaves batch norm's running statistics (and
every other buffer) exactly as they were, in place, also when the pass raises."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archspace.oneshot.buffers import kept_buffers


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3), nn.BatchNorm1d(3))


def test_a_training_mode_pass_inside_leaves_every_buffer_as_it_was_in_place() -> None:
    net = _net().train()
    net(torch.randn(16, 4))  # statistics away from their initial values
    tensors = list(net.buffers())
    before = [b.clone() for b in tensors]
    with kept_buffers(net):
        net(torch.randn(16, 4) * 3 + 2)
        assert not torch.equal(tensors[0], before[0])  # the pass did update them
    assert all(t is b for t, b in zip(tensors, net.buffers()))  # the same tensors, refilled
    assert all(torch.equal(t, b) for t, b in zip(tensors, before))
    net(torch.randn(16, 4))  # and they go on counting from there
    assert int(net[1].num_batches_tracked) == 2


def test_the_buffers_are_put_back_when_the_pass_raises() -> None:
    net = _net().train()
    before = [b.clone() for b in net.buffers()]
    with pytest.raises(ValueError, match="midway"), kept_buffers(net):
        net(torch.randn(16, 4) + 5)
        raise ValueError("midway")
    assert all(torch.equal(t, b) for t, b in zip(net.buffers(), before))
