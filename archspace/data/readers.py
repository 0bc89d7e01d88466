"""Dataset readers that need no download tool: scikit-learn's digits, CIFAR-10's python batches
and (Fashion-)MNIST's IDX files."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import torch

from archspace.data.transforms import normalize

Tensors = tuple[torch.Tensor, torch.Tensor]


def digits(val_fraction: float = 0.25, seed: int = 0) -> tuple[Tensors, Tensors]:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes) as ``(train, val)`` tensors.

    Images are scaled to [0, 1] and shaped ``(N, 1, 8, 8)``; the split is random (not
    stratified) and seeded. Needs scikit-learn (``pip install archspace[demo]``).

    Args:
        val_fraction: the share of images held out for validation.
        seed: seeds the split.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``.

    Example:
        >>> (x, y), (xv, yv) = digits()
        >>> tuple(x.shape[1:]), len(x) + len(xv), int(y.max()) + 1
        ((1, 8, 8), 1797, 10)
    """
    try:
        from sklearn.datasets import load_digits  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("the digits dataset needs scikit-learn: pip install 'archspace[demo]'") from exc
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_val = int(len(x) * val_fraction)
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def cifar10(root: str | Path, train: bool = True) -> Tensors:
    """CIFAR-10 from the standard python-format files (``cifar-10-batches-py``), no torchvision.

    Args:
        root: the folder holding ``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` (or its
            parent).
        train: the 50,000 training images, or else the 10,000 test images.

    Returns:
        Float images ``(N, 3, 32, 32)`` in [0, 1] and integer labels.

    Raises:
        FileNotFoundError: a batch file is missing (the message names it).
    """
    folder = Path(root)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    images, labels = [], []
    for name in names:
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"CIFAR-10 file {str(path)!r} is missing (expected the python-format batches)")
        with path.open("rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        images.append(torch.as_tensor(batch[b"data"]).reshape(-1, 3, 32, 32))
        labels.append(torch.as_tensor(batch[b"labels"], dtype=torch.long))
    return torch.cat(images).float() / 255.0, torch.cat(labels)


def cifar10_splits(root: str | Path, *, normalized: bool = True) -> tuple[Tensors, Tensors]:
    """CIFAR-10's training and test images as ``(train, val)`` (the ``cifar10`` dataset of configs).

    Args:
        root: as for :func:`cifar10`.
        normalized: standardise each channel with :data:`~archspace.data.CIFAR10_MEAN` / ``STD``.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``; no augmentation (see :func:`~archspace.data.augment`).
    """
    (x, y), (xt, yt) = cifar10(root, train=True), cifar10(root, train=False)
    if normalized:
        x, xt = normalize(x), normalize(xt)
    return (x, y), (xt, yt)


#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files (``apt install dataset-fashion-mnist``).
FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)


class IdxFormatError(ValueError):
    """An IDX file that is not what its header or its name says."""


def read_idx(path: str | Path) -> torch.Tensor:
    """An IDX file (MNIST's format; gzip or plain) as an uint8 tensor of the shape its header gives.

    Raises:
        IdxFormatError: not an unsigned-byte IDX file, or fewer bytes than the header promises.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IdxFormatError(f"{str(path)!r} is not an IDX file (bad magic number)")
    kind, ndim = raw[2], raw[3]
    if kind != 0x08:
        raise IdxFormatError(f"{str(path)!r} holds IDX type {kind:#04x}; only unsigned bytes (0x08) are read")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    count = 1
    for d in shape:
        count *= d
    body = raw[4 + 4 * ndim:]
    if len(body) != count:
        raise IdxFormatError(f"{str(path)!r}: the header promises {count} bytes of data, the file has {len(body)}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def _find(root: str | Path | None, name: str) -> Path:
    folders = [Path(root)] if root is not None else [Path(d) for d in
                                                     (os.environ.get("ARCHSPACE_FASHION_MNIST"), *FASHION_MNIST_DIRS) if d]
    for folder in folders:
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.exists():
                return candidate
    where = ", ".join(repr(str(f)) for f in folders)
    raise FileNotFoundError(f"Fashion-MNIST file {name!r} (or {name}.gz) not found in {where}; on Debian/Ubuntu "
                            "`apt install dataset-fashion-mnist`, or pass root= to the folder with the IDX files")


def fashion_mnist(root: str | Path | None = None, *, train: bool = True, limit: int | None = None) -> Tensors:
    """Fashion-MNIST (or MNIST: same file names) from its IDX files, ``(N, 1, 28, 28)`` in [0, 1].

    Args:
        root: the folder with ``train-images-idx3-ubyte[.gz]`` etc.; default ``$ARCHSPACE_FASHION_MNIST``
            or Debian's ``/usr/share/datasets/fashion-mnist``.
        train: the 60,000 training images, else the 10,000 test images.
        limit: keep only the first ``limit`` images (quick runs).
    """
    prefix = "train" if train else "t10k"
    images = read_idx(_find(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise IdxFormatError(f"Fashion-MNIST {prefix}: {tuple(images.shape)} images for {tuple(labels.shape)} labels")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images.unsqueeze(1).float() / 255.0, labels.long()


def fashion_mnist_splits(root: str | Path | None = None, *, train_limit: int | None = None,
                         val_limit: int | None = None) -> tuple[Tensors, Tensors]:
    """Fashion-MNIST's training and test images as ``(train, val)`` (the ``fashion_mnist`` dataset
    of configs: ``data: {name: fashion_mnist, train_limit: 10000}``)."""
    return fashion_mnist(root, train=True, limit=train_limit), fashion_mnist(root, train=False, limit=val_limit)


__all__ = ["FASHION_MNIST_DIRS", "IdxFormatError", "cifar10", "cifar10_splits", "digits", "fashion_mnist",
           "fashion_mnist_splits", "read_idx"]
