"""Fashion-201: isomorphism classes, the protocol on a tiny generated IDX dataset, and the table
file (builds, extends without retraining, reloads, rejects a tampered file)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from archspace.benchmarks import BenchmarkEvaluator, BenchmarkTableError
from archspace.benchmarks.fashion201 import (
    Protocol,
    all_archs,
    canonical_str,
    representative,
    train_one,
    unique_archs,
)
from archspace.benchmarks.fashion201_table import load_fashion201, lookup_or_train, open_or_create
from archspace.evaluate.base import TrialContext
from archspace.hub.nasbench201 import from_arch_str

TINY = Protocol(name="tiny", channels=2, num_cells=1, stem_stride=1, pad=0, train_size=48, valid_size=24, epochs=2, batch_size=16,
                eval_batch_size=32)
CONV = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"


def _write_idx(path: Path, data: torch.Tensor) -> None:
    header = bytes([0, 0, 0x08, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape)
    path.write_bytes(header + data.to(torch.uint8).numpy().tobytes())


@pytest.fixture(scope="module")
def idx_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny Fashion-MNIST lookalike in the IDX format: 80 training and 30 test images, 10 classes
    each drawn as a bright band at its own rows (learnable, so accuracies move)."""
    root = tmp_path_factory.mktemp("idx")
    gen = torch.Generator().manual_seed(0)
    for prefix, n in (("train", 80), ("t10k", 30)):
        labels = torch.arange(n) % 10
        images = torch.randint(0, 60, (n, 28, 28), generator=gen)
        for i, c in enumerate(labels.tolist()):
            images[i, 2 * c:2 * c + 4] += 180
        _write_idx(root / f"{prefix}-images-idx3-ubyte", images.clamp(0, 255))
        _write_idx(root / f"{prefix}-labels-idx1-ubyte", labels)
    return str(root)


def test_nb201_isomorphism_classes() -> None:
    archs = list(all_archs())
    assert len(archs) == len(set(archs)) == 15_625
    unique = unique_archs()
    assert len(unique) == 6_466
    assert len({canonical_str(a) for a in unique}) == 6_466
    assert all(representative(a) == a for a in unique[:200])
    # node 1 never reaches the output: its op does not matter
    a = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert representative(a) == representative(a.replace("nor_conv_3x3~0", "avg_pool_3x3~0"))
    # skip_connect passes its source on: conv(skip(x)) is conv(x)
    b = "|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|"
    assert canonical_str(b) == canonical_str("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    assert canonical_str(CONV) != canonical_str(CONV.replace("nor_conv_3x3~1", "avg_pool_3x3~1"))


def test_protocol_trains_and_repeats_under_its_seed(idx_root: str) -> None:
    entry = train_one(CONV, 0, protocol=TINY, root=idx_root)
    assert len(entry.valid_curve) == TINY.epochs and entry.valid_acc == entry.valid_curve[-1]
    assert 0.0 <= entry.valid_acc <= 1.0 and 0.0 <= entry.test_acc <= 1.0
    assert entry.params > 0 and entry.flops > 0 and entry.train_seconds > 0 and entry.cpu_seconds > 0
    again = train_one(CONV, 0, protocol=TINY, root=idx_root)
    assert (again.valid_curve, again.test_acc) == (entry.valid_curve, entry.test_acc)
    assert torch.get_num_threads() >= 1
    # the stride-2 stem on images padded to 32x32 (stages at 16, 8, 4)
    strided = train_one(CONV, 0, protocol=dataclasses.replace(TINY, stem_stride=2, pad=2, epochs=1), root=idx_root)
    assert len(strided.valid_curve) == 1 and strided.flops < entry.flops
    described = TINY.describe()
    assert described["channels"] == 2 and "torch" in described["versions"]


def test_the_rechecks_protocol_batches_repeat_the_tables_training(idx_root: str) -> None:
    """A one-shot search's stand-alone re-check with the protocol's batch size, learning rate and
    seed trains a cell exactly as the table does, from a search's smaller batches: the same
    validation accuracy to the image. On the search's batches as given it is another training."""
    from archspace.benchmarks.fashion201 import Fashion201Net, accuracy, load_splits
    from archspace.oneshot.rerank import StandaloneRerank, rerank, train_standalone
    from archspace.testing.oneshot_contracts import one_thread

    entry = train_one(CONV, 0, protocol=TINY, root=idx_root)
    train, valid, _ = load_splits(TINY, idx_root)
    search_batches = [(train[0][i:i + 8], train[1][i:i + 8]) for i in range(0, len(train[0]), 8)]
    settings = {"top": 1, "epochs": TINY.epochs, "learning_rate": TINY.learning_rate, "momentum": TINY.momentum,
                "weight_decay": TINY.weight_decay, "seed": 0}
    scores: dict[int | None, float] = {}
    for batch_size in (TINY.batch_size, None):
        with one_thread():
            result = rerank(Fashion201Net(TINY.channels, TINY.num_cells, stem_stride=TINY.stem_stride),
                            [(from_arch_str(CONV), 0.0)], search_batches, [valid],
                            settings=StandaloneRerank(**settings, batch_size=batch_size),
                            loss_fn=torch.nn.functional.cross_entropy,
                            metric=lambda model, batches: accuracy(model, valid, TINY.eval_batch_size))
        scores[batch_size] = result.best_score
    assert scores[TINY.batch_size] == entry.valid_acc
    # the search's batches as given: twice the steps in a fixed order, another model
    models = [train_standalone(Fashion201Net(TINY.channels, TINY.num_cells, stem_stride=TINY.stem_stride),
                               from_arch_str(CONV), search_batches, settings=StandaloneRerank(**settings, batch_size=b),
                               loss_fn=torch.nn.functional.cross_entropy) for b in (TINY.batch_size, None)]
    assert not torch.equal(models[0].classifier.weight, models[1].classifier.weight)


def _build_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "build_fashion201.py"
    spec = importlib.util.spec_from_file_location("build_fashion201", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_fashion201", module)
    spec.loader.exec_module(module)
    return module


def test_table_builds_extends_without_retraining_and_reloads(idx_root: str, tmp_path: Path) -> None:
    build = _build_module().build
    table_path, runs = tmp_path / "table.json", tmp_path / "runs"
    first = build(table_path, runs, archs=2, seeds=1, protocol=TINY, root=idx_root, executor="inline", progress=False)
    assert (first["trained_archs"], first["table_entries"]) == (2, 2)
    before = load_fashion201(table_path, protocol=TINY)
    second = build(table_path, runs, archs=3, seeds=1, protocol=TINY, root=idx_root, executor="inline", progress=False)
    assert (second["trained_archs"], second["table_entries"]) == (1, 3)
    after = load_fashion201(table_path, protocol=TINY)
    for arch in before:  # the earlier entries are kept as they were, never retrained
        assert after[arch] == before[arch]
    third = build(table_path, runs, archs=3, seeds=1, protocol=TINY, root=idx_root, executor="inline", progress=False)
    assert third["trained_archs"] == 0 and len(list(runs.glob("build-*"))) == 2
    # a build killed before it saved the table: its trials' entries are recovered, not retrained
    table_path.unlink()
    fourth = build(table_path, runs, archs=3, seeds=1, protocol=TINY, root=idx_root, executor="inline", progress=False)
    assert (fourth["recovered"], fourth["trained_archs"]) == (3, 0)
    after = load_fashion201(table_path, protocol=TINY)
    # as an NB201 table for BenchmarkEvaluator: any member of a class finds its entry
    arch = next(iter(after))
    evaluator = BenchmarkEvaluator(after.as_nb201(), "fashion_valid", extra=("fashion_test",))
    ctx = TrialContext(0, from_arch_str(arch), lambda step, value: None)
    metrics = evaluator.evaluate(None, ctx)
    assert metrics["default"] == after[arch][0]["valid_acc"]
    with pytest.raises(BenchmarkTableError, match="another protocol"):
        load_fashion201(table_path, protocol=Protocol())


def test_tampered_table_is_rejected(idx_root: str, tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    entry = lookup_or_train(CONV, path, protocol=TINY, root=idx_root)
    data = json.loads(path.read_text())
    arch = next(iter(data["entries"]))
    data["entries"][arch]["0"]["test_acc"] = 0.99
    path.write_text(json.dumps(data))
    with pytest.raises(BenchmarkTableError, match="sha256"):
        load_fashion201(path)
    path.write_text(path.read_text()[:-40])
    with pytest.raises(BenchmarkTableError, match="not JSON"):
        load_fashion201(path)
    assert 0.0 <= entry["test_acc"] <= 1.0


def test_lookup_or_train_trains_once(idx_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "table.json"
    first = lookup_or_train(from_arch_str(CONV), path, protocol=TINY, root=idx_root)
    import archspace.benchmarks.fashion201_table as module

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(module, "train_one", no_training)
    assert lookup_or_train(CONV, path, protocol=TINY, root=idx_root) == first
    assert len(open_or_create(path, TINY)) == 1


def test_the_table_loads_by_name_and_plugs_into_the_evaluator(idx_root: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from archspace.benchmarks import fashion201_table, load_table

    path = tmp_path / "shipped.json"
    entry = lookup_or_train(CONV, path, protocol=TINY, root=idx_root)
    monkeypatch.setattr(fashion201_table, "DEFAULT_PATH", path)  # stands in for the packaged file
    table = load_table("fashion201")
    assert (table.search_column, table.report_columns) == ("fashion_valid", ("fashion_test",))
    evaluator = BenchmarkEvaluator("fashion201")  # columns and direction from the table itself
    assert (evaluator.metric, evaluator.extra, evaluator.direction) == ("fashion_valid", ("fashion_test",), "maximize")
    metrics = evaluator.evaluate(None, TrialContext(0, from_arch_str(CONV), lambda step, value: None))
    assert metrics == {"default": entry["valid_acc"], "fashion_test": entry["test_acc"]}
    with pytest.raises(BenchmarkTableError, match="tables by name: \\['fashion201'\\]"):
        load_table("fashon201")


def test_the_packaged_table_ships_and_verifies() -> None:
    """The file in the package loads with its sha256 and the current protocol (when it exists yet)."""
    from archspace.benchmarks.fashion201 import PROTOCOL
    from archspace.benchmarks.fashion201_table import DEFAULT_PATH

    assert DEFAULT_PATH.exists(), "archspace/benchmarks/fashion201_table.json is missing from the package"
    table = load_fashion201(protocol=PROTOCOL)
    assert len(table) >= 1 and all(0.0 < e["test_acc"] <= 1.0 for seeds in table.values() for e in seeds.values())


_WRITER = """
import sys
from archspace.benchmarks.fashion201 import Entry, unique_archs
from archspace.benchmarks.fashion201_table import add_to_table
archs = sorted(unique_archs())[int(sys.argv[2])::int(sys.argv[3])][:int(sys.argv[4])]
for i, arch in enumerate(archs):
    add_to_table(sys.argv[1], [Entry(arch, 0, 0.5, 0.5, [0.5], 1, 1, 1.0)])
"""


def test_concurrent_writers_lose_no_entries(tmp_path: Path) -> None:
    """Four processes add twelve entries each to one file at once, one save per entry: every
    entry is in the table afterwards (a read-add-save without the file lock drops some)."""
    import subprocess

    path = tmp_path / "table.json"
    writers, each = 4, 12
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(k), str(writers), str(each)],
                              stderr=subprocess.PIPE, text=True) for k in range(writers)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    table = load_fashion201(path)
    assert len(table) == writers * each
    assert not list(tmp_path.glob("*.tmp"))
