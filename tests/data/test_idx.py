"""Fashion-MNIST's IDX reader, on files written here in the real format (gzip and plain)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from archspace.data import DATASETS, fashion_mnist
from archspace.data.readers import IdxFormatError, read_idx


def write_idx(path: Path, data: torch.Tensor, *, compress: bool) -> None:
    raw = bytes([0, 0, 0x08, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape) + data.numpy().tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_images_and_labels_written_in_the_idx_format(tmp_path: Path, compress: bool) -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (7, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (7,), generator=g, dtype=torch.uint8)
    for prefix in ("train", "t10k"):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images, compress=compress)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels, compress=compress)
    x, y = fashion_mnist(tmp_path, train=True)
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal((x * 255).round().to(torch.uint8).squeeze(1), images) and torch.equal(y, labels.long())
    (xt, yt), (xv, yv) = DATASETS.create("fashion_mnist", tmp_path, train_limit=5, val_limit=3)
    assert len(xt) == 5 and len(xv) == 3


def test_truncated_or_foreign_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x01\x02")
    with pytest.raises(IdxFormatError, match="promises 10 bytes of data, the file has 2"):
        read_idx(bad)
    bad.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(IdxFormatError, match="bad magic number"):
        read_idx(bad)
    bad.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00\x00\x00\x00")
    with pytest.raises(IdxFormatError, match="only unsigned bytes"):
        read_idx(bad)


def test_a_missing_folder_says_how_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt install dataset-fashion-mnist"):
        fashion_mnist(tmp_path / "nowhere")
