"""Facial landmarks: the NME metric and PFLD's training loss as an evaluator.

**NME** (normalised mean error) of one face: the mean over its landmarks of the Euclidean distance
between predicted and true point, divided by the inter-ocular distance (between the outer eye
corners) of the true points; the metric is its mean over faces. The corner indices per layout are
those of NNI's PFLD example (``lib/utils.py``, ``accuracy``): 106 points use points 35 and 93 (the
outer corners in the 106-point layout of the Grand Challenge, arXiv 1905.03469), 98 points (WFLW)
60 and 72, 68 points (300-W) 36 and 45, 29 points (COFW) 8 and 9. Because both distances are in the
same units, the NME does not depend on whether coordinates are pixels or fractions of the crop.

**Loss** (Guo et al., PFLD, arXiv 1902.10859, eq. 2, without the per-attribute class weights that
the 106-point lists do not carry): ``mean_n [ sum_k (1 - cos(theta_n,k - theta*_n,k)) * ||d_n||^2 ]``
where ``theta`` are the auxiliary net's predicted yaw, pitch and roll, ``theta*`` the true ones and
``d_n`` the vector of coordinate errors of face ``n``. Faces whose pose the network gets wrong weigh
more. The true angles are in degrees in the data; they are converted to radians before the cosine
(NNI's example applies the cosine to the raw values: set ``angles_in_degrees=False`` to do the
same). Without angles (an eval-mode model returns the landmarks alone), or with
``angle_weighting=False``, the loss is the plain ``mean_n ||d_n||^2``.

Example:
    >>> import torch
    >>> truth = torch.zeros(1, 106, 2)
    >>> truth[0, 35], truth[0, 93] = torch.tensor([0.0, 0.0]), torch.tensor([0.5, 0.0])
    >>> pred = truth + torch.tensor([0.03, 0.04])  # every point off by 0.05
    >>> round(float(nme(pred, truth)[0]), 4)
    0.1
"""

from __future__ import annotations

import math
from typing import Any

import torch

from archspace.evaluate.base import EvaluatorError
from archspace.evaluate.training import DataLike, SupervisedEvaluator

#: Outer eye corners per number of landmarks (from NNI's PFLD example, see the module docstring).
OCULAR_CORNERS: dict[int, tuple[int, int]] = {106: (35, 93), 98: (60, 72), 68: (36, 45), 29: (8, 9)}
NUM_ANGLES = 3


def _points(x: torch.Tensor) -> torch.Tensor:
    """``(N, P, 2)`` from ``(N, 2P)`` or ``(N, P, 2)``."""
    if x.dim() == 2:
        if x.shape[1] % 2:
            raise EvaluatorError(f"landmarks of shape {tuple(x.shape)}: an odd number of coordinates")
        return x.reshape(x.shape[0], -1, 2)
    if x.dim() == 3 and x.shape[2] == 2:
        return x
    raise EvaluatorError(f"landmarks must be (N, 2P) or (N, P, 2), got shape {tuple(x.shape)}")


def nme(pred: torch.Tensor, target: torch.Tensor, *, corners: tuple[int, int] | None = None) -> torch.Tensor:
    """The NME of each face, ``(N,)``: mean point error over the true inter-ocular distance.

    Args:
        pred, target: landmarks ``(N, 2P)`` (x0, y0, x1, y1, ...) or ``(N, P, 2)``.
        corners: the two landmark indices of the outer eye corners; default: by the number of
            points (:data:`OCULAR_CORNERS`).

    Raises:
        EvaluatorError: shapes differ, or no known corners for that many points.
    """
    p, t = _points(pred.detach()).float(), _points(target.detach()).float()
    if p.shape != t.shape:
        raise EvaluatorError(f"predicted landmarks {tuple(p.shape)} and true ones {tuple(t.shape)} differ in shape")
    if corners is None:
        if t.shape[1] not in OCULAR_CORNERS:
            raise EvaluatorError(f"no eye-corner indices known for {t.shape[1]} landmarks (known: "
                                 f"{sorted(OCULAR_CORNERS)}); pass corners=(left, right)")
        corners = OCULAR_CORNERS[t.shape[1]]
    ocular = (t[:, corners[0]] - t[:, corners[1]]).norm(dim=-1).clamp_min(1e-12)
    return (p - t).norm(dim=-1).mean(dim=1) / ocular


def pfld_loss(landmarks: torch.Tensor, target_landmarks: torch.Tensor, angles: torch.Tensor | None = None,
              target_angles: torch.Tensor | None = None, *, angles_in_degrees: bool = True) -> torch.Tensor:
    """PFLD's pose-weighted L2 loss (see the module docstring); the plain L2 loss without angles."""
    l2 = (target_landmarks - landmarks.reshape(target_landmarks.shape)).pow(2).sum(dim=1)
    if angles is None or target_angles is None:
        return l2.mean()
    scale = math.pi / 180.0 if angles_in_degrees else 1.0
    weight = (1 - torch.cos((angles - target_angles) * scale)).sum(dim=1)
    return (weight * l2).mean()


class Landmarks(SupervisedEvaluator):
    """Landmark regression with PFLD's loss; the metric is the validation NME (minimize).

    Targets are rows ``(2 * num_points + 3,)``: coordinates, then the three pose angles (as
    :mod:`archspace.data.landmarks` gives them). A model returns its landmarks ``(N, 2 * num_points)``,
    or ``(landmarks, angles)`` in training (:class:`archspace.hub.PFLD` does), the angles from its
    auxiliary net weighting the loss.

    Args:
        train_data, val_data: as :class:`SupervisedEvaluator`.
        num_points: landmarks per face (106).
        angle_weighting: weight each face's error by its pose error (PFLD); False: plain L2.
        angles_in_degrees: the true angles are degrees (converted before the cosine).
        corners: the outer eye corners for the NME (default: by ``num_points``).
        **kwargs: :class:`SupervisedEvaluator` settings (epochs, optimizer, learning_rate, ...).

    Example:
        >>> import torch
        >>> from archspace.hub import PFLD
        >>> space = PFLD(input_size=32, width=4)
        >>> data = (space.example_input(4), torch.rand(4, 215))
        >>> evaluator = Landmarks(data, data, batch_size=4)
        >>> evaluator.fit(space.freeze(space.default_sample())) > 0
        True
    """

    direction = "minimize"

    def __init__(self, train_data: DataLike, val_data: DataLike, *, num_points: int = 106,
                 angle_weighting: bool = True, angles_in_degrees: bool = True,
                 corners: tuple[int, int] | None = None, **kwargs: Any) -> None:
        super().__init__(train_data, val_data, **kwargs)
        if corners is None and num_points not in OCULAR_CORNERS:
            raise EvaluatorError(f"no eye-corner indices known for {num_points} landmarks (known: "
                                 f"{sorted(OCULAR_CORNERS)}); pass corners=(left, right)")
        self.num_points = num_points
        self.angle_weighting = angle_weighting
        self.angles_in_degrees = angles_in_degrees
        self.corners = corners

    def split(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(landmarks, angles)`` of a batch of targets."""
        size = 2 * self.num_points + NUM_ANGLES
        if target.dim() != 2 or target.shape[1] != size:
            raise EvaluatorError(f"landmark targets must be (N, {size}) ({2 * self.num_points} coordinates and "
                                 f"{NUM_ANGLES} angles), got shape {tuple(target.shape)}")
        return target[:, :2 * self.num_points], target[:, 2 * self.num_points:]

    def criterion(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The plain L2 loss of the landmarks."""
        return pfld_loss(output, self.split(target)[0])

    def loss(self, output: Any, target: torch.Tensor) -> torch.Tensor:
        """PFLD's loss for ``(landmarks, angles)``, the L2 loss for landmarks alone."""
        coords, angles = self.split(target)
        if isinstance(output, (tuple, list)):
            predicted_angles = output[1] if self.angle_weighting and len(output) > 1 else None
            return pfld_loss(output[0], coords, predicted_angles, angles if predicted_angles is not None else None,
                             angles_in_degrees=self.angles_in_degrees)
        return pfld_loss(output, coords)

    def batch_metric(self, output: Any, target: torch.Tensor) -> tuple[float, int]:
        landmarks = output[0] if isinstance(output, (tuple, list)) else output
        values = nme(landmarks, self.split(target)[0], corners=self.corners)
        return float(values.sum()), len(values)


__all__ = ["OCULAR_CORNERS", "Landmarks", "nme", "pfld_loss"]
