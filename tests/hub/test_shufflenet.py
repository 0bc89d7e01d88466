"""The SPOS ShuffleNetV2 space: the paper's layout, channel-search choices, sliced units, preprocessing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archspace.data.spos_preprocessing import spos_preprocess
from archspace.errors import ArchspaceError, SpaceDefinitionError
from archspace.hub import HUB
from archspace.hub.shufflenet import CHANNEL_SCALES, OFFICIAL_ARCH, ShuffleBlock, ShuffleNetSpace, channel_shuffle


def test_the_paper_space_has_20_choice_blocks_of_four_units_and_the_official_stages() -> None:
    space = ShuffleNetSpace()
    decisions = space.search_space()
    assert list(decisions) == [f"layer_{i}" for i in range(1, 21)]
    assert all(list(d.values) == ["k3", "k5", "k7", "xcep"] for d in decisions.values())
    assert HUB["shufflenet_spos"] is ShuffleNetSpace
    model = space.freeze(OFFICIAL_ARCH)
    strides = [block.stride for block in model.features]
    assert strides == [2, 1, 1, 1] * 2 + [2] + [1] * 7 + [2, 1, 1, 1]
    assert [block.branch_main[-3].out_channels + (block.branch_proj[0].in_channels if block.stride == 2 else
            block.branch_main[0].in_channels) for block in model.features][::4][:3] == [64, 160, 320]
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_channel_search_offers_the_papers_scales_of_the_default_mid_channels() -> None:
    space = ShuffleNetSpace(channel_search=True)
    decisions = space.search_space()
    assert len(decisions) == 40
    assert list(decisions["channel_1"].values) == [int(32 * s) for s in CHANNEL_SCALES]  # stage 1: out 64, default mid 32
    assert list(decisions["channel_20"].values) == [int(320 * s) for s in CHANNEL_SCALES]
    sample = {**OFFICIAL_ARCH, **{f"channel_{i}": decisions[f"channel_{i}"].values[0] for i in range(1, 21)}}
    narrow = space.freeze(sample)
    assert narrow.features[0].branch_main[0].out_channels == 6  # k7 unit: the first 1x1 conv gives the mid width


def test_channel_shuffle_splits_even_and_odd_channels() -> None:
    x = torch.arange(8.0).view(1, 8, 1, 1)
    even, odd = channel_shuffle(x)
    assert even.flatten().tolist() == [0, 2, 4, 6] and odd.flatten().tolist() == [1, 3, 5, 7]


@pytest.mark.parametrize("sequence", ["pdp", "dpdpdp"])
def test_a_unit_run_at_a_width_equals_the_plain_unit_holding_those_slices(sequence: str) -> None:
    torch.manual_seed(0)
    big = ShuffleBlock(8, 8, 6, kernel_size=5, stride=1, sequence=sequence, affine=True)
    small = ShuffleBlock(8, 8, 2, kernel_size=5, stride=1, sequence=sequence, affine=True)
    with torch.no_grad():
        for name, value in small.state_dict().items():
            value.copy_(big.state_dict()[name][tuple(slice(0, n) for n in value.shape)])
    x = torch.randn(3, 8, 6, 6)
    assert torch.allclose(big.run(x, 2), small(x), atol=1e-6)
    big.eval()
    small.eval()
    assert torch.allclose(big.run(x, 2), small(x), atol=1e-6)


def test_bad_settings_are_named() -> None:
    with pytest.raises(SpaceDefinitionError, match="one entry per stage"):
        ShuffleNetSpace(stage_channels=(8, 16), stage_repeats=(1,))
    with pytest.raises(SpaceDefinitionError, match="even"):
        ShuffleNetSpace(stage_channels=(9, 16), stage_repeats=(1, 1))
    with pytest.raises(SpaceDefinitionError, match="kernel 4"):
        ShuffleBlock(8, 8, 4, kernel_size=4)


def test_spos_preprocessing_gives_bgr_in_0_255() -> None:
    rgb = torch.rand(2, 3, 4, 4)
    out = spos_preprocess(rgb)
    assert torch.allclose(out[:, 0], rgb[:, 2] * 255) and torch.allclose(out[:, 2], rgb[:, 0] * 255)
    assert float(out.max()) <= 255.0
    with pytest.raises(ArchspaceError, match="RGB images"):
        spos_preprocess(torch.rand(2, 1, 4, 4))


def test_small_forms_are_tiny() -> None:
    for space in (ShuffleNetSpace.small(), ShuffleNetSpace.small(channel_search=True)):
        assert sum(p.numel() for p in space.parameters()) < 20_000
        assert isinstance(space.features[0], nn.Module)
