"""Dataset readers that need no download tool: scikit-learn's digits and CIFAR-10's python batches."""

from __future__ import annotations

import pickle
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


__all__ = ["cifar10", "cifar10_splits", "digits"]
