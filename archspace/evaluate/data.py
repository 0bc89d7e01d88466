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


__all__ = ["digits"]
