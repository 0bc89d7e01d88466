"""A Gaussian process on sample encodings, in numpy: the model of :class:`~archspace.strategy.GPBO`.

Kernel: ``k(x, x') = s² exp(-‖x - x'‖² / (2 ℓ² D))`` on the rows of
:class:`~archspace.strategy._encoding.Encoder`, ``D`` the number of decisions. On the one-hot
(generic) encoding ``‖x - x'‖² = 2 · hamming(x, x')``, so this is the exponentiated Hamming
kernel of categorical BO (COMBO, Oh et al. 2019; CoCaBO, Ru et al. 2020): similarity falls with
the number of decisions two samples disagree on; masked conditional decisions disagree only
where active. With the path encoding beside it, two cells also count as close when they share
input-to-output paths.

Hyperparameters (``ℓ`` and the noise ratio ``g``) maximise the marginal likelihood over a small
fixed grid, ``s²`` in closed form for each; one eigendecomposition per lengthscale serves all
noise ratios, so the grid costs a few milliseconds at a few hundred points and cannot fail to
converge, which a gradient optimiser on a categorical kernel sometimes does.
"""

from __future__ import annotations

import math

import numpy as np

LENGTHSCALES = (0.1, 0.15, 0.2, 0.3, 0.45, 0.7, 1.0, 1.5)
NOISE_RATIOS = (1e-4, 1e-3, 1e-2, 1e-1)


class CategoricalGP:
    """Exact GP regression with a zero prior mean (targets are standardised) and the kernel above.

    Args:
        decisions: ``D`` in the kernel (the number of decisions, so ``ℓ`` reads alike in any space).

    Example:
        >>> import numpy as np
        >>> x = np.eye(4, dtype=np.float32)
        >>> gp = CategoricalGP(decisions=1)
        >>> gp.condition(x, np.array([1.0, 0.0, 0.0, -1.0]))
        >>> mean, std = gp.predict(x[:1])
        >>> round(float(mean[0]), 2), float(std[0]) < 0.1
        (1.0, True)
    """

    def __init__(self, decisions: int) -> None:
        self.decisions = max(decisions, 1)
        self.lengthscale = 0.45
        self.noise = 1e-3
        self.signal = 1.0
        self._x: np.ndarray | None = None

    def _kernel(self, a: np.ndarray, b: np.ndarray, lengthscale: float) -> np.ndarray:
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        sq = (a64 * a64).sum(1)[:, None] + (b64 * b64).sum(1)[None, :] - 2.0 * a64 @ b64.T
        return np.exp(-np.maximum(sq, 0.0) / (2.0 * lengthscale ** 2 * self.decisions))

    def select(self, x: np.ndarray, y: np.ndarray) -> None:
        """Choose ``ℓ``, the noise ratio and ``s²`` by the profile marginal likelihood on ``(x, y)``.

        One eigendecomposition per lengthscale serves every noise ratio: with ``C = U Λ Uᵀ``,
        ``(C + g I)⁻¹ = U (Λ + g)⁻¹ Uᵀ`` and ``log |C + g I| = Σ log(λ + g)``.
        """
        n = len(y)
        best = -math.inf
        for lengthscale in LENGTHSCALES:
            eigenvalues, vectors = np.linalg.eigh(self._kernel(x, x, lengthscale))
            eigenvalues = np.maximum(eigenvalues, 0.0)
            projected = vectors.T @ y
            for noise in NOISE_RATIOS:
                shifted = eigenvalues + noise
                signal = max(float((projected ** 2 / shifted).sum()) / n, 1e-12)
                loglik = -0.5 * n * math.log(signal) - 0.5 * float(np.log(shifted).sum())
                if loglik > best:
                    best, self.lengthscale, self.noise, self.signal = loglik, lengthscale, noise, signal

    def condition(self, x: np.ndarray, y: np.ndarray) -> None:
        """Condition on ``(x, y)`` with the current hyperparameters."""
        kernel = self._kernel(x, x, self.lengthscale)
        self._inverse = np.linalg.inv(kernel + self.noise * np.eye(len(y)))  # (C + g I)⁻¹
        self._alpha = self._inverse @ y
        self._x = x

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at the rows of ``x``."""
        if self._x is None:
            return np.zeros(len(x)), np.full(len(x), math.sqrt(self.signal))
        cross = self._kernel(x, self._x, self.lengthscale)
        mean = cross @ self._alpha
        var = np.maximum(1.0 - ((cross @ self._inverse) * cross).sum(1), 1e-12) * self.signal
        return mean, np.sqrt(var)


__all__ = ["CategoricalGP", "LENGTHSCALES", "NOISE_RATIOS"]
