"""What a graph compiler changes, and the table models: unread states, dead cells, per-kind calibration,
and the timing harness (pinned CPUs, rotating inputs)."""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from archspace.hardware import LatencyTable, LatencyTableError, count_params, profile
from archspace.hardware._decompose import meta_copy
from archspace.hardware._liveness import trace_liveness
from archspace.hardware._timing import pinned, torch_runner
from archspace.hardware.latency import unit_kind
from archspace.hardware.profile import profiler
from archspace.hub import DartsSpace, NasBench201
from archspace.hub.darts import DARTS_V2

SHAPE = (1, 3, 32, 32)


def _darts_dead_cell() -> tuple[DartsSpace, dict[str, object], dict[str, object]]:
    """DartsSpace.small(): cells normal, reduce, reduce. A reduction genotype that never takes state 1
    leaves cell 1's output unread (cell 2, the last, does not read it): cell 1 is dead code."""
    space = DartsSpace.small()
    live = dict(space.validate(DARTS_V2))
    dead = dict(live)
    for label in dead:
        if label.startswith("reduce/input") and dead[label] == 1:
            dead[label] = 0
    return space, live, space.validate(dead)


def test_a_cell_preprocessor_is_keyed_by_the_states_a_sample_reads() -> None:
    space, live, dead = _darts_dead_cell()
    dec = profiler(space, SHAPE).decomposition
    unit = dec.units["cells.2.preprocessor"]
    assert len(unit.outputs) == 2 and all(alternatives for alternatives in unit.outputs)
    masks = {key[1] for key in dec.entries if key[0] == "cells.2.preprocessor"}
    assert masks == {(True, True), (True, False), (False, True)}  # both unread: no cell can do that
    assert unit.live({k: v for k, v in dead.items()}) == (True, False)
    for sample in (live, dead):  # counting is unchanged: eager PyTorch computes unread states too
        assert profile(space, sample).params == count_params(space.freeze(sample))


def _onnx_convs(model: nn.Module, path: Path) -> int:
    import onnx
    import onnxruntime as ort  # type: ignore[import-untyped]

    from archspace.hardware.onnx import export_onnx

    export_onnx(model, path, (torch.randn(SHAPE),), dynamic_batch=False)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(path.with_suffix(".opt.onnx"))
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(path.with_suffix(".opt.onnx"))).graph
    return Counter(node.op_type for node in graph.node)["Conv"]


def test_onnx_runtime_drops_a_cell_nobody_reads_and_the_table_models_it(tmp_path: Path) -> None:
    space, live, dead = _darts_dead_cell()
    model = space.freeze(dead).eval()
    convs = {name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    unread = {name for name in convs if name.startswith("cells.1.") or name.startswith("cells.2.preprocessor.pre1")}
    assert unread and _onnx_convs(model, tmp_path / "dead.onnx") == len(convs) - len(unread)

    table = LatencyTable.measure(space, SHAPE, backend="onnxruntime", repeats=2, warmup=1)
    assert table.liveness is not None and table.liveness.valid
    values = {label: value for label, value in dead.items()}
    assert table.liveness.live(table.units, values) == {"cells.0", "cells.2"}
    assert table.liveness.live(table.units, dict(live)) == {"cells.0", "cells.1", "cells.2"}
    full = LatencyTable(units=table.units, entries=table.entries, fixed_ms=table.fixed_ms, domains=table.domains,
                        meta=table.meta)  # the same figures without the dead-code model
    dropped = sum(ms for (uid, key), ms in table.entries.items() if uid.startswith("cells.1.")
                  and table.units[uid].active(values) and table.units[uid].key(values) == (uid, key))
    assert dropped > 0
    assert table.predict(dead, calibrated=False) == pytest.approx(full.predict(dead, calibrated=False) - dropped)
    assert table.predict(live, calibrated=False) == pytest.approx(full.predict(live, calibrated=False))
    loaded = LatencyTable.load(table.save(tmp_path / "t.json"), space=space, backend="onnxruntime")
    assert loaded.predict(dead) == table.predict(dead) and loaded.liveness is not None


def test_the_torch_backend_counts_every_cell() -> None:
    space, _, dead = _darts_dead_cell()
    table = LatencyTable.measure(space, SHAPE, backend="torch", repeats=1, warmup=0)
    assert table.liveness is None  # eager PyTorch runs unread computation
    assert table.predict(dead, calibrated=False) > 0


def test_identities_do_not_hide_what_they_pass_on() -> None:
    """NB201 has no dead code, but skip connections hand tensors on unchanged: every edge stays live."""
    space = NasBench201.small()
    dec = profiler(space, SHAPE).decomposition
    checks = [space.validate({label: "skip_connect" for label in space.search_space()})]
    liveness = trace_liveness(meta_copy(space), dec.units, dec.samples, checks + [space.random_sample(3)], SHAPE)
    assert liveness.valid, liveness.reason
    boxes = {u.box for uid, u in dec.units.items() if uid != "<fixed>"}
    for sample in checks + [space.random_sample(s) for s in range(5)]:
        assert liveness.live(dec.units, dict(sample)) >= boxes


@pytest.fixture(scope="module")
def nb_table() -> LatencyTable:
    return LatencyTable.measure(NasBench201.small(), repeats=2, warmup=1)


def test_per_kind_calibration_fits_kinds_that_a_common_line_cannot(nb_table: LatencyTable) -> None:
    space = NasBench201.small()
    samples = [space.random_sample(s) for s in range(40)]
    assert set(nb_table.kinds) == {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}

    def truth(sample: dict[str, object]) -> float:  # 3x3 convolutions cost 60 % more inside the network
        kinds = nb_table.kind_ms(sample)
        return 1.1 * nb_table.predict(sample, calibrated=False) + 0.6 * kinds["nor_conv_3x3"] + 0.05

    measured = [truth(s) for s in samples]
    held_out = [space.random_sample(100 + s) for s in range(20)]
    line = nb_table.fit(samples, measured, per_kind=False)
    assert line["per_kind"] == {}
    line_error = max(abs(nb_table.predict(s) / truth(s) - 1) for s in held_out)
    fit = nb_table.fit(samples, measured, ridge=0.0)  # 40 networks >= 2 x (5 kinds + 2): per kind by default
    assert set(fit["per_kind"]) == set(nb_table.kinds)
    kind_error = max(abs(nb_table.predict(s) / truth(s) - 1) for s in held_out)
    assert kind_error < 1e-6 < line_error
    assert np.max(np.abs(fit["relative_residuals"])) < 1e-6
    shrunk = nb_table.fit(samples, measured, ridge=1e6)  # a huge penalty: back to (nearly) the line
    assert max(abs(c) for c in shrunk["per_kind"].values()) < 1e-3
    few = nb_table.fit(samples[:6], measured[:6])
    assert few["per_kind"] == {}  # 6 networks are too few for 7 parameters
    with pytest.raises(LatencyTableError, match="ridge"):
        nb_table.fit(samples, measured, ridge=-1.0)
    with pytest.raises(LatencyTableError, match="positive"):
        nb_table.fit(samples[:2], [1.0, 0.0])


def test_per_kind_calibration_survives_save_and_load(nb_table: LatencyTable, tmp_path: Path) -> None:
    space = NasBench201.small()
    samples = [space.random_sample(s) for s in range(16)]
    nb_table.fit(samples, [1.0 + 0.1 * i for i in range(16)], per_kind=True)
    loaded = LatencyTable.load(nb_table.save(tmp_path / "k.json"))
    assert loaded.calibration == nb_table.calibration
    for sample in samples:
        assert loaded.predict(sample) == pytest.approx(nb_table.predict(sample))


@pytest.mark.parametrize(("uid", "kind"), [("cells.1.ops.2.0.3.sep_conv_3x3", "sep_conv_3x3"),
                                           ("stages.0.blocks.2", "blocks"), ("cells.0.preprocessor", "preprocessor"),
                                           ("op.conv", "conv")])
def test_unit_kinds_are_candidate_names(uid: str, kind: str) -> None:
    assert unit_kind(uid) == kind


def test_each_call_times_the_next_of_several_inputs() -> None:
    """One repeated input lets the branch predictor learn it; the runner cycles through distinct ones."""
    seen: list[int] = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.data_ptr())
            return x

    inputs: list[tuple[list[torch.Tensor], dict[str, object]]] = [([torch.randn(2, 3)], {}) for _ in range(4)]
    run = torch_runner(Probe(), inputs, torch.device("cpu"))
    for _ in range(8):
        run()
    assert seen == [inputs[i % 4][0][0].data_ptr() for i in range(8)]


def test_timing_pins_the_process_and_restores_its_cpus() -> None:
    before = os.sched_getaffinity(0)
    with pinned(1) as cpus:
        assert cpus is not None and len(cpus) == 1 and os.sched_getaffinity(0) == cpus <= before
    assert os.sched_getaffinity(0) == before
    with pinned(1, enabled=False) as cpus:
        assert cpus is None and os.sched_getaffinity(0) == before


@pytest.mark.parametrize(("kwargs", "named"), [({"quantile": 1.5}, "quantile"), ({"quantile": "median"}, "quantile"),
                                               ({"warmup": -1}, "warmup"), ({"repeats": 0}, "repeats")])
def test_bad_timing_settings_are_refused_before_timing(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(LatencyTableError, match=named):
        LatencyTable.measure(NasBench201.small(), **kwargs)  # type: ignore[arg-type]


def test_calibration_refuses_times_that_are_not_positive_and_finite(nb_table: LatencyTable) -> None:
    space = NasBench201.small()
    samples = [space.random_sample(s) for s in range(3)]
    for bad in ([1.0, float("nan"), 2.0], [1.0, float("inf"), 2.0], [1.0, -2.0, 2.0]):
        with pytest.raises(LatencyTableError, match="positive, finite"):
            nb_table.fit(samples, bad)


def test_a_space_the_walk_cannot_follow_counts_every_box_live(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspace.hardware import _liveness

    def broken(*args: object) -> None:
        raise RuntimeError("an op without autograd support")

    monkeypatch.setattr(_liveness, "_trace", broken)
    space = NasBench201.small()
    dec = profiler(space, SHAPE).decomposition
    result = trace_liveness(meta_copy(space), dec.units, dec.samples, [], SHAPE)
    assert not result.valid and "an op without autograd support" in result.reason
    table = LatencyTable(units=dec.units, entries={k: 1.0 for k in dec.entries}, fixed_ms=0.0,
                         domains={label: list(d.values) for label, d in space.search_space().items()}, meta={},
                         liveness=result)
    assert table.liveness is None  # not used: never a silently wrong number


def test_loose_end_cells_are_keyed_by_which_nodes_are_loose() -> None:
    """ENAS micro merges the nodes no later node reads: the merge and the postprocessor see a
    decision-dependent number of them, keyed by which are read, so the space splits into units
    and a latency table can be measured for it (with ONNX Runtime too)."""
    from archspace.hub import EnasMicroSpace

    space = EnasMicroSpace.small()
    dec = profiler(space, SHAPE).decomposition
    assert dec.separable, dec.reason
    merge = dec.units["cells.0.merge"]
    assert merge.flags and not merge.outputs and dec.units["cells.0.postprocessor"].flags == merge.flags
    for seed in range(6):
        sample = space.random_sample(seed)
        assert profile(space, sample).params == count_params(space.freeze(sample))
    table = LatencyTable.measure(space, SHAPE, backend="onnxruntime", repeats=1, warmup=0)
    samples = [space.random_sample(seed) for seed in range(6)]
    predictions = {table.predict(sample, calibrated=False) for sample in samples}
    # no sign is asserted: a unit's entry is its time exclusive of its children's and the fixed
    # part the median of whole-network time minus the units' sum (ONNX Runtime fuses across units),
    # both differences of timings, which one repeat on a loaded machine can push below zero (a
    # CI-style run did)
    assert len(predictions) > 1 and all(math.isfinite(ms) for ms in predictions)
    assert all(math.isfinite(ms) for unit in table.unit_latencies().values() for ms in unit.values())
    weights = {label: torch.full((len(values),), 1.0 / len(values)) for label, values in table.domains.items()}
    assert float(table.expected_latency(weights)) > 0
