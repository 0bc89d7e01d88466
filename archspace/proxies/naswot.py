"""NASWOT (Mellor et al., ICML 2021, "Neural Architecture Search without Training").

Each ReLU cuts its input space into linear regions; an input's binary code is which units of
every ReLU are active. Networks whose codes differ a lot between the inputs of one batch can tell
those inputs apart before training and train better. With ``c_n`` the code of input ``n`` over
all ReLUs, the kernel ``K[m, n] = N_A − d_H(c_m, c_n)`` (units minus Hamming distance) counts the
units on which two inputs agree, and the score is ``log |det K|``. Reads inputs, no labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy


class Naswot(Proxy):
    """log|K_H| of the ReLU activation codes of one batch (Mellor et al., ICML 2021)."""

    name = "naswot"
    needs_labels = False

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        model.train()
        n = len(batch.inputs)
        kernel = torch.zeros(n, n, dtype=torch.float64)
        handles = []

        def hook(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            nonlocal kernel
            codes = (args[0].detach().reshape(n, -1) > 0).double()
            kernel = kernel + codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T

        for module in model.modules():
            if isinstance(module, nn.ReLU | nn.ReLU6 | nn.LeakyReLU):
                handles.append(module.register_forward_hook(hook))
        try:
            with torch.no_grad():
                model(batch.inputs)
        finally:
            for handle in handles:
                handle.remove()
        sign, logdet = np.linalg.slogdet(kernel.numpy())
        return float(logdet) if sign != 0 else float("-inf")


__all__ = ["Naswot"]
