"""Small datasets that need no download, for demos, tests and configs."""

from __future__ import annotations

import torch


def digits(val_fraction: float = 0.25, seed: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                              tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes) as ``(train, val)`` tensors.

    Images are scaled to [0, 1] and shaped ``(N, 1, 8, 8)``; the split is stratified-free but
    seeded. Needs scikit-learn (``pip install archspace[demo]``).
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





CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def cifar10(root: str, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the standard python-format files (``cifar-10-batches-py``), no torchvision.

    Returns float images ``(N, 3, 32, 32)`` in [0, 1] and integer labels. ``root`` is the folder
    holding ``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` (or its parent).
    """
    import pickle
    from pathlib import Path

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


def normalize(images: torch.Tensor, mean: tuple[float, ...] = CIFAR10_MEAN,
              std: tuple[float, ...] = CIFAR10_STD) -> torch.Tensor:
    """Per-channel standardisation."""
    return (images - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def augment(images: torch.Tensor, generator: torch.Generator, *, pad: int = 4, cutout: int = 0) -> torch.Tensor:
    """The CIFAR training augmentation of DARTS: random crop after padding, horizontal flip, and
    (when ``cutout`` > 0) one zeroed square of that side per image (DeVries & Taylor, 2017)."""
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    ys = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    xs = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    out = torch.stack([padded[i, :, y:y + h, x:x + w] for i, (y, x) in enumerate(zip(ys.tolist(), xs.tolist()))])
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(-1)
    if cutout > 0:
        cy = torch.randint(0, h, (n,), generator=generator)
        cx = torch.randint(0, w, (n,), generator=generator)
        for i, (y, x) in enumerate(zip(cy.tolist(), cx.tolist())):
            out[i, :, max(0, y - cutout // 2):y + cutout // 2, max(0, x - cutout // 2):x + cutout // 2] = 0
    return out
__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "augment", "cifar10", "digits", "normalize"]
