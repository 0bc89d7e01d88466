"""The input of the official SPOS checkpoints: BGR channel order, values 0-255, no normalisation.

The official Single Path One-Shot code reads images with OpenCV and feeds them unnormalised, so
its released supernet and subnets expect BGR tensors in [0, 255] (NNI's ``--spos-preprocessing``
reproduces the same; see the official repository's issue 5). Apply :func:`spos_preprocess` to
batches in this library's usual form (RGB in [0, 1], as the dataset readers return) to feed such a
checkpoint; a model trained here from scratch may use either form, consistently.
"""

from __future__ import annotations

import torch

from archspace.errors import ArchspaceError


def spos_preprocess(images: torch.Tensor) -> torch.Tensor:
    """RGB images in [0, 1], ``(N, 3, H, W)`` or ``(3, H, W)``, as BGR in [0, 255] (float).

    Example:
        >>> spos_preprocess(torch.tensor([1.0, 0.5, 0.0]).view(3, 1, 1)).flatten().tolist()
        [0.0, 127.5, 255.0]
    """
    if images.dim() not in (3, 4) or images.shape[-3] != 3:
        raise ArchspaceError(f"spos_preprocess takes RGB images (N, 3, H, W) or (3, H, W), got shape "
                             f"{tuple(images.shape)}")
    return images.flip(-3).float() * 255.0


__all__ = ["spos_preprocess"]
