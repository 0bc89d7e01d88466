"""The DARTS hub space: the retraining form, its default network, NNI's names and DARTS-V2."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import archspace as asp
from archspace.errors import SampleError, SpaceDefinitionError
from archspace.hub import DARTS_V2, DartsSpace, from_genotype, from_nni_darts, to_nni_darts
from archspace.hub.darts import OPS, RETRAIN_OPS, DropPath
from archspace.nn.cell import FixedCell
from archspace.testing.hub_contracts import check_hub_space

# NNI's published DARTS-V2 dict (nni.nas.hub.pytorch.DARTS.load_searched_model("darts-v2")), in NNI's
# label/value format, written out from the DARTS paper's genotype (Liu et al. 2019, figures 4-5).
NNI_DARTS_V2: dict[str, Any] = {
    "normal/op_2_0": "sep_conv_3x3", "normal/input_2_0": [0],
    "normal/op_2_1": "sep_conv_3x3", "normal/input_2_1": [1],
    "normal/op_3_0": "sep_conv_3x3", "normal/input_3_0": [0],
    "normal/op_3_1": "sep_conv_3x3", "normal/input_3_1": [1],
    "normal/op_4_0": "sep_conv_3x3", "normal/input_4_0": [1],
    "normal/op_4_1": "skip_connect", "normal/input_4_1": [0],
    "normal/op_5_0": "skip_connect", "normal/input_5_0": [0],
    "normal/op_5_1": "dil_conv_3x3", "normal/input_5_1": [2],
    "reduce/op_2_0": "max_pool_3x3", "reduce/input_2_0": [0],
    "reduce/op_2_1": "max_pool_3x3", "reduce/input_2_1": [1],
    "reduce/op_3_0": "skip_connect", "reduce/input_3_0": [2],
    "reduce/op_3_1": "max_pool_3x3", "reduce/input_3_1": [1],
    "reduce/op_4_0": "max_pool_3x3", "reduce/input_4_0": [0],
    "reduce/op_4_1": "skip_connect", "reduce/input_4_1": [2],
    "reduce/op_5_0": "skip_connect", "reduce/input_5_0": [2],
    "reduce/op_5_1": "max_pool_3x3", "reduce/input_5_1": [1],
}


@pytest.fixture(scope="module")
def retrain_space() -> DartsSpace:
    return DartsSpace(width=4, num_cells=3, search=False)


def test_the_retrain_form_never_offers_none(retrain_space: DartsSpace) -> None:
    decisions = retrain_space.search_space()
    ops = [label for label in decisions if "/op_" in label]
    assert len(ops) == 16
    for label in ops:
        assert tuple(decisions[label].values) == RETRAIN_OPS and "none" not in decisions[label].values
    with pytest.raises(SampleError, match="none"):
        retrain_space.validate({**DARTS_V2, "normal/op_2_0": "none"})
    search = DartsSpace(width=4, num_cells=3, search=True).search_space()
    assert tuple(search["normal/op_2_0"].values) == OPS  # the one-shot form keeps it


@pytest.mark.parametrize("search", [False, True])
def test_the_default_sample_is_a_working_non_degenerate_network(search: bool) -> None:
    space = DartsSpace(width=4, num_cells=3, search=search)
    sample = space.default_sample()
    assert sample == DARTS_V2
    model = space.freeze(sample)
    cells = [m for m in model.modules() if isinstance(m, FixedCell)]
    assert len(cells) == 3
    for cell in cells:
        wired = {i for node in cell.inputs for i in node}
        assert {0, 1} <= wired, f"a cell of the default network ignores one of its inputs: {cell.inputs}"
    model.eval()
    x = torch.randn(4, 3, 32, 32)
    logits = model(x)
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()
    assert not torch.allclose(logits, model(torch.randn(4, 3, 32, 32)))
    assert not torch.allclose(logits[0], logits[1])
    model.train()
    model(x).square().mean().backward()
    dead = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_the_search_form_passes_the_hub_contract() -> None:
    check_hub_space(lambda: DartsSpace(width=4, num_cells=3, search=True), num_samples=2)


def test_nnis_darts_v2_dict_loads_and_has_the_papers_parameter_count(retrain_space: DartsSpace) -> None:
    sample = from_nni_darts(NNI_DARTS_V2)
    assert sample == DARTS_V2
    assert retrain_space.validate(sample) == sample  # labels and candidates do not depend on width/depth
    with torch.device("meta"), asp.fixed_arch(sample):
        model = DartsSpace(width=36, num_cells=20, auxiliary_loss=True, search=False)
    assert model.auxiliary is not None
    params = asp.count_params(model) - asp.count_params(model.auxiliary)  # the paper counts without the head
    assert round(params / 1e6, 1) == 3.3  # the paper's table 1: 3.3M
    assert params == 3_349_342


def test_imagenet_network_of_the_paper() -> None:
    with torch.device("meta"), asp.fixed_arch(DARTS_V2):
        mobile = DartsSpace(width=48, num_cells=14, dataset="imagenet", search=False)
    assert round(asp.count_params(mobile) / 1e6, 1) == 4.7  # the paper's table 3: 4.7M
    with asp.fixed_arch(DARTS_V2):
        model = DartsSpace(width=8, num_cells=3, dataset="imagenet", auxiliary_loss=True, search=False)
    model.train()
    logits, aux = model(torch.randn(2, 3, 224, 224))  # the auxiliary head reads 7x7 maps, as in DARTS
    assert logits.shape == aux.shape == (2, 1000)


def test_the_genotype_form_gives_the_same_sample() -> None:
    genotype_normal = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                       ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)]
    genotype_reduce = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                       ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)]
    assert from_genotype(genotype_normal, genotype_reduce) == from_nni_darts(NNI_DARTS_V2)
    with pytest.raises(SampleError, match="8 \\(op, input\\) pairs"):
        from_genotype(genotype_normal[:6], genotype_reduce)


def test_nni_converter_round_trip_and_errors() -> None:
    assert to_nni_darts(DARTS_V2) == NNI_DARTS_V2
    assert from_nni_darts(DARTS_V2) == DARTS_V2  # our own form passes unchanged
    with pytest.raises(SampleError, match="'normal/op_2'"):
        from_nni_darts({"normal/op_2": "sep_conv_3x3"})
    with pytest.raises(SampleError, match="'normal/input_2_0' has value \\[0, 1\\]"):
        from_nni_darts({"normal/input_2_0": [0, 1]})
    with pytest.raises(SampleError, match="an op is a name"):
        from_nni_darts({"reduce/op_2_0": 3})


def test_nni_argument_names_and_the_older_aliases() -> None:
    new = DartsSpace(width=4, num_cells=3, auxiliary_loss=True, search=False)
    old = DartsSpace(channels=4, layers=3, auxiliary=True, search=False)
    assert list(new.search_space()) == list(old.search_space())
    assert asp.count_params(new, DARTS_V2) == asp.count_params(old, DARTS_V2)
    assert new.auxiliary is not None and len(new.cells) == 3
    with pytest.raises(SpaceDefinitionError, match="width=8 and its alias channels=4"):
        DartsSpace(width=8, channels=4)
    with pytest.raises(SpaceDefinitionError, match="tuple form"):
        DartsSpace(width=(16, 24, 32))  # type: ignore[arg-type]
    with pytest.raises(SpaceDefinitionError, match="dataset must be one of \\['cifar', 'imagenet'\\], got 'mnist'"):
        DartsSpace(dataset="mnist")
    with pytest.raises(SpaceDefinitionError, match="drop_path_prob"):
        DartsSpace(drop_path_prob=1.5)


def test_drop_path_prob_is_set_at_construction_and_by_nnis_setter() -> None:
    with asp.fixed_arch(DARTS_V2):
        model = DartsSpace(width=4, num_cells=3, drop_path_prob=0.2, search=False)
    probs = {m.p for m in model.modules() if isinstance(m, DropPath)}
    assert probs == {0.2}
    model.set_drop_path_prob(0.1)
    assert {m.p for m in model.modules() if isinstance(m, DropPath)} == {0.1}
