"""Tensor transforms for image datasets: CIFAR statistics, normalisation, DARTS augmentation."""

from __future__ import annotations

import torch

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def normalize(images: torch.Tensor, mean: tuple[float, ...] = CIFAR10_MEAN,
              std: tuple[float, ...] = CIFAR10_STD) -> torch.Tensor:
    """Per-channel standardisation of a batch ``(N, C, H, W)``.

    Example:
        >>> normalize(torch.ones(2, 2, 4, 4), mean=(0.5, 1.0), std=(0.5, 1.0))[0, :, 0, 0]
        tensor([1., 0.])
    """
    return (images - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def augment(images: torch.Tensor, generator: torch.Generator, *, pad: int = 4, cutout: int = 0) -> torch.Tensor:
    """The CIFAR training augmentation of DARTS.

    Random crop after zero padding, horizontal flip, and (when ``cutout`` > 0) one zeroed square
    of that side per image (DeVries & Taylor, 2017).

    Args:
        images: a batch ``(N, C, H, W)``.
        generator: draws the crops, flips and cutout squares.
        pad: padding before the random crop back to ``H x W``.
        cutout: side of the zeroed square (0: none).

    Returns:
        A new batch of the same shape.

    Example:
        >>> out = augment(torch.rand(4, 3, 8, 8), torch.Generator().manual_seed(0), pad=2, cutout=2)
        >>> tuple(out.shape)
        (4, 3, 8, 8)
    """
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


__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "augment", "normalize"]
