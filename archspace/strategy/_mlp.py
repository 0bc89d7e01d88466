"""An ensemble of small MLP regressors in numpy, trained together: BANANAS's predictor.

Why numpy and not torch: the networks are tiny (two hidden layers of a few dozen units, a few
hundred training points), where torch's per-operation overhead dominates and its thread pool
can change the last bits of a result; numpy's batched matmul trains all members in one call per
layer, costs a few milliseconds per retraining, and gives the same numbers under any
``torch.set_num_threads``. The backward pass of a two-layer ReLU network is short enough to
write out.

Members differ by their initial weights only (BANANAS, White et al. 2021, trains its ensemble
the same way); the spread of their predictions is the uncertainty the acquisition uses.
Training is full-batch Adam on the mean squared error with a little weight decay; ``fit`` warm
starts from the current weights, so retraining after each new result takes a few steps.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np

_NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")


class MLPEnsemble:
    """``members`` MLPs ``inputs -> hidden -> hidden -> 1`` with ReLU, trained as one batch.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).random((64, 3), dtype=np.float32)
        >>> net = MLPEnsemble(3, members=3, hidden=16, seed=0)
        >>> net.fit(x, x.sum(axis=1), steps=300)
        >>> float(np.abs(net.predict(x).mean(axis=0) - x.sum(axis=1)).mean()) < 0.1
        True
    """

    def __init__(self, inputs: int, *, members: int = 5, hidden: int = 32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)

        def init(fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
            return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

        self.params: dict[str, np.ndarray] = {
            "w1": init(inputs, (members, inputs, hidden)), "b1": np.zeros((members, 1, hidden), np.float32),
            "w2": init(hidden, (members, hidden, hidden)), "b2": np.zeros((members, 1, hidden), np.float32),
            "w3": init(hidden, (members, hidden, 1)), "b3": np.zeros((members, 1, 1), np.float32),
        }

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.params
        h1 = np.maximum(np.matmul(x[None], p["w1"]) + p["b1"], 0.0)
        h2 = np.maximum(np.matmul(h1, p["w2"]) + p["b2"], 0.0)
        return h1, h2, (np.matmul(h2, p["w3"]) + p["b3"])[..., 0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Each member's predictions: shape ``(members, len(x))``."""
        return self._forward(x.astype(np.float32, copy=False))[2]

    def fit(self, x: np.ndarray, y: np.ndarray, *, steps: int, lr: float = 0.01, weight_decay: float = 1e-4,
            batch: int = 256, seed: int = 0) -> None:
        """``steps`` Adam steps on the mean squared error, from the current weights (Adam's moments
        start afresh, so the state to save is the weights alone). Each step sees every row while
        there are at most ``batch`` of them, else ``batch`` rows drawn without replacement (seeded
        by ``seed``), so that a step costs the same after 250 results as after 2,500."""
        x_all = x.astype(np.float32, copy=False)
        y_all = y.astype(np.float32, copy=False)
        draws = np.random.default_rng(seed) if len(y_all) > batch else None
        p = self.params
        m = {k: np.zeros_like(v) for k, v in p.items()}
        v = {k: np.zeros_like(v) for k, v in p.items()}
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        for t in range(1, steps + 1):
            if draws is None:
                x, y2 = x_all, y_all[None, :]
            else:
                rows = np.sort(draws.choice(len(y_all), batch, replace=False))
                x, y2 = x_all[rows], y_all[rows][None, :]
            n = np.float32(len(y2[0]))
            h1, h2, out = self._forward(x)
            d_out = (2.0 / n) * (out - y2)  # (E, n)
            d_out3 = d_out[..., None]
            grads = {"w3": np.matmul(h2.transpose(0, 2, 1), d_out3), "b3": d_out3.sum(axis=1, keepdims=True)}
            d_h2 = np.matmul(d_out3, p["w3"].transpose(0, 2, 1)) * (h2 > 0)
            grads["w2"] = np.matmul(h1.transpose(0, 2, 1), d_h2)
            grads["b2"] = d_h2.sum(axis=1, keepdims=True)
            d_h1 = np.matmul(d_h2, p["w2"].transpose(0, 2, 1)) * (h1 > 0)
            grads["w1"] = np.matmul(x.T[None], d_h1)
            grads["b1"] = d_h1.sum(axis=1, keepdims=True)
            correction1, correction2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
            for k in _NAMES:
                g = grads[k] + weight_decay * p[k] if k[0] == "w" else grads[k]
                m[k] = beta1 * m[k] + (1 - beta1) * g
                v[k] = beta2 * v[k] + (1 - beta2) * g * g
                p[k] = (p[k] - lr * (m[k] / correction1) / (np.sqrt(v[k] / correction2) + eps)).astype(np.float32)

    def state(self) -> dict[str, Any]:
        """The weights as JSON data (exact: little-endian float32 bytes in base64)."""
        return {k: {"shape": list(a.shape), "data": base64.b64encode(a.astype("<f4").tobytes()).decode("ascii")}
                for k, a in self.params.items()}

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state` returned."""
        self.params = {k: np.frombuffer(base64.b64decode(entry["data"]), dtype="<f4").astype(np.float32)
                       .reshape(entry["shape"]) for k, entry in state.items()}


__all__ = ["MLPEnsemble"]
