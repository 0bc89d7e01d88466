"""The DARTS seed workflow, as CI runs it: search then retrain, both with --smoke."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import archspace as asp
from archspace.evaluate.data import augment, cifar10
from archspace.hub import DartsSpace

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("order", [1, 2])
def test_search_then_retrain_smoke(tmp_path: Path, order: int) -> None:
    search = subprocess.run([sys.executable, str(ROOT / "examples/darts/search.py"), "--smoke", "--order", str(order),
                             "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert search.returncode == 0, search.stderr[-2000:]
    arch = json.loads((tmp_path / "arch.json").read_text())
    assert DartsSpace(channels=4, layers=5).validate(arch) == arch
    assert (tmp_path / "arch_epoch_0.json").exists() and (tmp_path / "checkpoint.pt").exists()
    history = json.loads((tmp_path / "arch_history.json").read_text())
    assert "normal/edge_2_0" in history[0]["distribution"]
    retrain = subprocess.run([sys.executable, str(ROOT / "examples/darts/retrain.py"), "--smoke",
                              "--arc-checkpoint", str(tmp_path / "arch.json")], capture_output=True, text=True,
                             timeout=300)
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    assert "epoch 0: loss" in retrain.stdout


def test_cifar10_reader_on_files_in_the_official_format(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        with (folder / name).open("wb") as handle:
            pickle.dump({b"data": data, b"labels": [1, 2, 3, 4], b"batch_label": name.encode()}, handle)
    x, y = cifar10(str(tmp_path), train=True)
    assert x.shape == (20, 3, 32, 32) and y.tolist() == [1, 2, 3, 4] * 5
    first = pickle.loads((folder / "data_batch_1").read_bytes(), encoding="bytes")[b"data"][0]
    assert torch.allclose(x[0].reshape(-1), torch.tensor(first, dtype=torch.float32) / 255)
    xt, _ = cifar10(str(folder), train=False)
    assert xt.shape == (4, 3, 32, 32)
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        cifar10(str(folder), train=False)


def test_augment_keeps_shape_and_cuts_out() -> None:
    images = torch.ones(6, 3, 32, 32)
    out = augment(images, torch.Generator().manual_seed(0), cutout=16)
    assert out.shape == images.shape
    assert (out == 0).any() and (out == 1).any()


def test_retrain_network_has_auxiliary_head_and_drop_path() -> None:
    space = DartsSpace(channels=4, layers=5)
    sample = space.random_sample(0)
    with asp.fixed_arch(sample):
        model = DartsSpace(channels=4, layers=5, auxiliary=True, search=False)
    model.set_drop_path(0.2)
    model.train()
    logits, aux = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_search_smoke_under_torchrun(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(ROOT / "examples/darts/search.py"), "--smoke", "--device", "cpu",
                           "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "arch.json").read_text())
    assert done.stdout.count("architecture written") == 1  # rank 0 only
