"""The ProxylessNAS space: the paper's 21 blocks and candidates at ImageNet size, zero only in
residual blocks (where it skips the block), grayscale input, the subnet of a supernet."""

from __future__ import annotations

import pytest
import torch

from archspace.errors import SpaceDefinitionError
from archspace.hub import HUB, ProxylessNASSpace
from archspace.hub.proxylessnas import CANDIDATES, ZERO, MBConv, make_op
from archspace.oneshot import to_supernet


def test_imagenet_space_has_the_papers_blocks_and_candidates() -> None:
    space = ProxylessNASSpace()
    decisions = space.search_space()
    assert len(decisions) == 21 and HUB["proxylessnas"] is ProxylessNASSpace
    firsts = {f"stage{s}_block0" for s in range(6)}
    for label, decision in decisions.items():
        expected = list(CANDIDATES) if label in firsts else [*CANDIDATES, ZERO]
        assert list(decision.values) == expected, label
    model = space.freeze(space.default_sample()).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    assert list(ProxylessNASSpace(zero=False).search_space()["stage0_block1"].values) == list(CANDIDATES)


def test_candidates_have_their_kernel_and_expansion() -> None:
    op = make_op("7x7_MBConv6", 8, 16, 2)
    assert isinstance(op, MBConv)
    convs = [m for m in op if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].out_channels == 48 and convs[1].kernel_size == (7, 7) and convs[1].stride == (2, 2)
    assert convs[1].groups == 48 and convs[2].out_channels == 16
    with pytest.raises(SpaceDefinitionError, match="residual block"):
        make_op(ZERO, 8, 16, 1)
    with pytest.raises(SpaceDefinitionError, match="unknown ProxylessNAS op '9x9_MBConv3'"):
        make_op("9x9_MBConv3", 8, 8, 1)
    with pytest.raises(SpaceDefinitionError, match="one entry per stage"):
        ProxylessNASSpace(width_stages=(8, 16), depth_stages=(1,), stride_stages=(2, 2))
    with pytest.raises(SpaceDefinitionError, match="stride_stages"):
        ProxylessNASSpace(width_stages=(8,), depth_stages=(1,), stride_stages=(3,))


def test_zero_skips_the_block_and_grayscale_input_works() -> None:
    space = ProxylessNASSpace(10, in_channels=1, width_stages=(8, 8), depth_stages=(1, 2), stride_stages=(2, 1),
                              stem_channels=8, first_channels=8, last_channels=16)
    sample = {**space.default_sample(), "stage1_block1": ZERO}
    model = space.freeze(sample).eval()
    x = torch.randn(2, 1, 28, 28)
    block = model.blocks[2]
    with torch.no_grad():
        h = torch.randn(2, 8, 7, 7)
        assert torch.equal(block(h), h)  # the zero op leaves the shortcut alone
        assert model(x).shape == (2, 10)


def test_a_supernet_subnet_carries_the_chosen_candidates_weights() -> None:
    space = ProxylessNASSpace.small()
    supernet = to_supernet(space)
    sample = space.random_sample(2)
    subnet = supernet.subnet(sample).eval()
    label = "stage1_block0"
    chosen = supernet.net.blocks[1].op.candidates[sample[label]]
    assert all(torch.equal(a, b) for a, b in zip(subnet.blocks[1].op.state_dict().values(),
                                                  chosen.state_dict().values()))
    with torch.no_grad():
        assert subnet(space.example_input()).shape == (2, 10)
