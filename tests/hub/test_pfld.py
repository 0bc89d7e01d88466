"""The PFLD space: NNI's candidates per stage, shapes at 112x112, training vs eval outputs, the
supernet's subnet carrying its weights."""

from __future__ import annotations

import pytest
import torch

import archspace as asp
from archspace.errors import SpaceDefinitionError
from archspace.hub import HUB, PFLD
from archspace.hub.pfld import STAGE_OPS, make_op
from archspace.oneshot import to_supernet
from archspace.testing.hub_contracts import check_hub_space


def test_search_space_follows_nni_stages_with_fbnet_skip() -> None:
    space = PFLD.small().search_space()
    assert list(space) == [f"block_{i}" for i in range(5)]
    assert list(space["block_0"].values) == [*STAGE_OPS[0], "skip"]
    # block_2 changes channels and stride: no skip there
    assert list(space["block_2"].values) == list(STAGE_OPS[1])
    assert list(space["block_4"].values) == [*STAGE_OPS[1], "skip"]
    assert list(PFLD(input_size=32, width=4, skip=False).search_space()["block_0"].values) == list(STAGE_OPS[0])
    assert HUB["pfld"] is PFLD


def test_full_size_shapes_and_outputs() -> None:
    space = PFLD()
    model = space.freeze(space.random_sample(3))
    x = torch.rand(2, 3, 112, 112)
    model.train()
    landmarks, angles = model(x)
    assert landmarks.shape == (2, 212) and angles.shape == (2, 3)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 212)
    small = PFLD(input_size=32, width=4, auxiliary=False)
    plain = small.freeze(small.default_sample()).train()
    assert plain(torch.rand(2, 3, 32, 32)).shape == (2, 212) and plain.auxiliary is None


def test_the_form_with_the_auxiliary_net_passes_the_contract() -> None:
    check_hub_space(lambda: PFLD(input_size=32, width=4), num_samples=1)


def test_every_candidate_keeps_the_layer_shape() -> None:
    for name in {*STAGE_OPS[0], *STAGE_OPS[1]}:
        for stride, fm in ((1, 4), (2, 2)):
            op = make_op(name, 8, 16 if stride == 2 else 8, stride, fm)
            assert op(torch.rand(2, 8, 4, 4)).shape == (2, 16 if stride == 2 else 8, fm, fm), name
    with pytest.raises(SpaceDefinitionError, match="'skip' needs stride 1"):
        make_op("skip", 8, 16, 2, 2)
    with pytest.raises(SpaceDefinitionError, match="unknown PFLD op 'mb_k7'"):
        make_op("mb_k7", 8, 8, 1, 4)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(SpaceDefinitionError, match="multiple of 16"):
        PFLD(input_size=100)
    with pytest.raises(SpaceDefinitionError, match="even number"):
        PFLD(width=3)


def test_other_input_sizes_pass_the_contract() -> None:
    check_hub_space(lambda: PFLD(input_size=48, width=2), num_samples=1)


def test_subnet_inherits_the_supernet_weights() -> None:
    torch.manual_seed(0)
    space = PFLD.small()
    supernet = to_supernet(space)
    with torch.no_grad():
        for p in supernet.weight_parameters():
            p.add_(0.01 * torch.randn_like(p))
    sample = {"block_0": "sep_k5", "block_1": "skip", "block_2": "mb_k5_e2_res_se", "block_3": "gh_k5",
              "block_4": "mb_k3_res_d3"}
    model = supernet.subnet(sample).eval()
    fresh = space.freeze(sample).eval()
    x = space.example_input(4)
    with torch.no_grad():
        assert not torch.allclose(model(x), fresh(x))
        # the chosen candidates' trained weights: the supernet at a one-hot architecture agrees
        for label, value in sample.items():
            logits = supernet.arch.logits(label)
            logits.fill_(-1e4)
            logits[supernet.arch.names[label].index(value)] = 1e4
        supernet.eval()
        assert torch.allclose(supernet(x), model(x), atol=1e-4)
    assert asp.count_params(model) == asp.count_params(space, sample)
