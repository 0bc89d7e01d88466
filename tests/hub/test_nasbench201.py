"""The NAS-Bench-201 space against the benchmark's own table."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

import archspace as asp
from archspace.benchmarks import BenchmarkEvaluator, NB201Table, load_table
from archspace.errors import ArchspaceError, SampleError
from archspace.evaluate import TrialContext
from archspace.experiment import Experiment
from archspace.hub import RESNET_CELL, NasBench201, from_arch_str, to_arch_str
from archspace.strategy import RegularizedEvolution

# The table ships beside the project (../shared), as CI lays it out; ARCHSPACE_NB201_TABLE overrides.
TABLE_PATH = Path(os.environ.get("ARCHSPACE_NB201_TABLE",
                                 Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"))


@pytest.fixture(scope="module")
def table() -> NB201Table:
    assert TABLE_PATH.exists(), f"the NB201 table is expected at {TABLE_PATH}"
    return load_table(TABLE_PATH)


@pytest.fixture(scope="module")
def space() -> NasBench201:
    return NasBench201()


def test_every_row_converts_to_a_valid_sample_and_back(table: NB201Table, space: NasBench201) -> None:
    decisions = space.search_space()
    assert len(table) == decisions.size() == 15_625
    for arch in table:
        sample = from_arch_str(arch)
        assert decisions.validate(sample) == sample
        assert to_arch_str(sample) == arch


def test_frozen_samples_run_and_match_the_tables_parameter_counts(table: NB201Table, space: NasBench201) -> None:
    rng = random.Random(0)
    archs = rng.sample(sorted(table), 12) + [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    ]
    for arch in archs:
        sample = from_arch_str(arch)
        assert asp.count_params(space, sample) == round(table[arch]["params_m"] * 1e6)
    model = space.freeze(sample)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_bad_arch_strings() -> None:
    with pytest.raises(SampleError, match="3 '\\+'-separated"):
        from_arch_str("|none~0|")
    with pytest.raises(SampleError, match="bad edge 'conv~0'"):
        from_arch_str("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(SampleError, match="'edge_1_0'"):
        to_arch_str({})


def test_benchmark_evaluator_answers_instantly_in_an_experiment(table: NB201Table, space: NasBench201) -> None:
    evaluator = BenchmarkEvaluator(table)
    strategy = RegularizedEvolution(population_size=10, sample_size=3)
    experiment = Experiment(space, evaluator, strategy, max_trials=60, executor="inline", progress=False)
    trials = experiment.run()
    assert len(trials) == 60 and all(t.status == "succeeded" for t in trials)
    for t in trials:
        row = table[to_arch_str(t.sample)]
        assert t.metric == row["cifar10_valid"] and t.metrics["cifar10_test"] == row["cifar10_test"]
    result = evaluator.evaluate(None, TrialContext(0, trials[0].sample, lambda step, value: None))
    assert result["default"] == trials[0].metric


def test_table_errors(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("name,acc\nx,1\n")
    with pytest.raises(ArchspaceError, match="no 'arch' column"):
        load_table(tmp_path / "t.csv")
    (tmp_path / "u.csv").write_text("arch,cifar10_valid\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,abc\n")
    with pytest.raises(ArchspaceError, match="line 2"):
        load_table(tmp_path / "u.csv")
    with pytest.raises(ArchspaceError, match="cannot read NB201 table"):
        load_table(tmp_path / "missing.csv")
    (tmp_path / "v.csv").write_text("arch,cifar10_valid\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,9.7\n")
    small = load_table(tmp_path / "v.csv")
    with pytest.raises(ArchspaceError, match="column 'cifar10_test' is not in the table"):
        BenchmarkEvaluator(small)
    with pytest.raises(ArchspaceError, match="is not in the table"):
        BenchmarkEvaluator(small, extra=()).evaluate(None, TrialContext(
            0, from_arch_str("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"), lambda s, v: None))


def test_the_default_sample_is_the_resnet_cell_and_a_working_network(table: NB201Table) -> None:
    space = NasBench201(channels=4, num_cells=1)
    sample = space.default_sample()
    assert to_arch_str(sample) == RESNET_CELL and space.validate(sample) == sample
    assert table[RESNET_CELL]["cifar10_test"] > 93  # a strong cell; cut-off cells score about 10
    model = space.freeze(sample).eval()
    a, b = model(torch.randn(2, 3, 32, 32)), model(torch.randn(2, 3, 32, 32))
    assert not torch.allclose(a, b)


def _affine_flags(model: torch.nn.Module) -> dict[str, bool]:
    return {name: m.affine for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}


def test_the_search_form_has_non_affine_cell_batch_norms_and_trains_its_samples_in_the_stand_alone_form() -> None:
    """NB201's search code builds every supernet with ``affine=False`` in the cells' ops and keeps
    the stem, the reductions and the last batch norm affine; a sample found there is trained in
    the stand-alone form (the benchmark's), with the same labels and the same constructor args."""
    from archspace.benchmarks.fashion201 import Fashion201Net

    search = Fashion201Net(channels=4, num_cells=1, stem_stride=2, search=True)
    flags = _affine_flags(search)
    cell_bns = {n: a for n, a in flags.items() if n.startswith("cells.") and ".edges." in n}
    other = {n: a for n, a in flags.items() if n not in cell_bns}
    assert cell_bns and not any(cell_bns.values())  # every cell op's batch norm: no scale, no shift
    assert other and all(other.values())  # stem, residual reductions, last act: affine as in NB201
    alone = search.standalone_form()
    assert type(alone) is Fashion201Net and not alone.search_form and alone.stem[0].stride == (2, 2)
    assert all(_affine_flags(alone).values())
    assert alone.search_space() == search.search_space()
    assert alone.standalone_form() is alone  # already the stand-alone form
    sample = search.random_sample(3)
    assert all(_affine_flags(alone.freeze(sample)).values())
    assert not all(_affine_flags(search.freeze(sample)).values())  # freeze keeps the form it is asked for
    params = sum(p.numel() for p in search.parameters())
    assert params < sum(p.numel() for p in alone.parameters())  # the affines are what the search form lacks
    assert NasBench201.small(oneshot=True).search_form and not NasBench201.small().search_form
    with pytest.raises(ArchspaceError, match="search must be a bool"):
        NasBench201(channels=4, num_cells=1, search="yes")  # type: ignore[arg-type]
