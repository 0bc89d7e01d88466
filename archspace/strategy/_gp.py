"""A Gaussian process on sample encodings, in numpy: the model of :class:`~archspace.strategy.GPBO`.

Kernel: ``k(x, x') = s² exp(-‖x - x'‖² / (2 ℓ² D))`` on the rows of
:class:`~archspace.strategy._encoding.Encoder`, ``D`` the number of decisions. On the one-hot
(generic) encoding ``‖x - x'‖² = 2 · hamming(x, x')``, so this is the exponentiated Hamming
kernel of categorical BO (COMBO, Oh et al. 2019; CoCaBO, Ru et al. 2020): similarity falls with
the number of decisions two samples disagree on; masked conditional decisions disagree only
where active. With the path encoding beside it, two cells also count as close when they share
input-to-output paths.

Hyperparameters (``ℓ`` and the noise ratio ``g``) maximise the marginal likelihood over a small
fixed grid, ``s²`` in closed form for each; a grid of a few dozen Cholesky factorisations costs
milliseconds at a few hundred points and cannot fail to converge, which a gradient optimiser on
a categorical kernel sometimes does.
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
        >>> gp.select(x, np.array([1.0, 0.0, 0.0, -1.0]))
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
        """Choose ``ℓ``, the noise ratio and ``s²`` by the profile marginal likelihood on ``(x, y)``."""
        n = len(y)
        best = -math.inf
        for lengthscale in LENGTHSCALES:
            base = self._kernel(x, x, lengthscale)
            for noise in NOISE_RATIOS:
                try:
                    chol = np.linalg.cholesky(base + noise * np.eye(n))
                except np.linalg.LinAlgError:
                    continue
                alpha = np.linalg.solve(chol, y)
                signal = max(float(alpha @ alpha) / n, 1e-12)
                loglik = -0.5 * n * math.log(signal) - float(np.log(np.diag(chol)).sum())
                if loglik > best:
                    best, self.lengthscale, self.noise, self.signal = loglik, lengthscale, noise, signal

    def condition(self, x: np.ndarray, y: np.ndarray) -> None:
        """Condition on ``(x, y)`` with the current hyperparameters."""
        n = len(y)
        kernel = self._kernel(x, x, self.lengthscale)
        jitter = self.noise
        while True:
            try:
                self._chol = np.linalg.cholesky(kernel + jitter * np.eye(n))
                break
            except np.linalg.LinAlgError:
                jitter *= 10.0
        self._x = x
        self._alpha = np.linalg.solve(self._chol.T, np.linalg.solve(self._chol, y))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at the rows of ``x``."""
        if self._x is None:
            return np.zeros(len(x)), np.full(len(x), math.sqrt(self.signal))
        cross = self._kernel(x, self._x, self.lengthscale)
        mean = cross @ self._alpha
        v = np.linalg.solve(self._chol, cross.T)
        var = np.maximum(1.0 - (v * v).sum(0), 1e-12) * self.signal
        return mean, np.sqrt(var)


__all__ = ["CategoricalGP", "LENGTHSCALES", "NOISE_RATIOS"]
