"""DARTS — Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019.

Every decision becomes a softmax over its candidates; the network weights ``w`` (SGD, training
batches) and the architecture logits ``alpha`` (Adam, validation batches) are updated in turn.

First order (``order=1``) takes the architecture gradient at the current weights. Second order
(``order=2``) differentiates through one virtual SGD step, ``w' = w - xi * dw L_train(w, alpha)``
(with the optimizer's momentum and weight decay, as the paper's code does), and approximates the
resulting Hessian-vector product by finite differences:
``grad_alpha = dalpha L_val(w', alpha) - xi * (dalpha L_train(w+, alpha) - dalpha L_train(w-, alpha)) / (2 eps)``
with ``w± = w ± eps * dw' L_val(w', alpha)`` and ``eps = 0.01 / ||dw' L_val||`` (the paper's
equation 8). ``xi`` is the current weight learning rate, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.func import functional_call

from archspace.oneshot.distributed import average_gradients
from archspace.oneshot.loop import Batch, LossFn, OneShotTrainer
from archspace.oneshot.policy import Softmax  # DARTS's policy; in policy.py as every supernet's default


class DARTS(OneShotTrainer[Softmax]):
    """DARTS search (see the module docstring); the other arguments are :class:`OneShotTrainer`'s.

    Args:
        order: 1 (first order) or 2 (unrolled second order).

    Example:
        >>> import torch, archspace as asp
        >>> from archspace.oneshot import DARTS
        >>> from archspace.testing import SharedNet
        >>> data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))] * 2
        >>> sample = DARTS(order=1, epochs=1, progress=False).fit(SharedNet(), data, data)
        >>> sorted(sample)
        ['act', 'width']
    """

    def __init__(self, *, order: int = 1, **kwargs: Any) -> None:
        if order not in (1, 2):
            raise ValueError(f"DARTS order must be 1 or 2, got {order!r}")
        super().__init__(**kwargs)
        self.order = order

    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        self.arch_optimizer.zero_grad(set_to_none=True)
        extra = self.extra_arch_loss()
        if self.order == 1:
            xv, yv = val
            val_loss = loss_fn(self.supernet(xv), yv)
            self.arch_backward(val_loss if extra is None else val_loss + extra)
        else:
            val_loss = self.unrolled_backward(train, val, loss_fn)
            if extra is not None:  # a term of the logits alone: its gradient adds to the estimate
                for param, grad in zip(self.supernet.arch_parameters(),
                                       torch.autograd.grad(extra, list(self.supernet.arch_parameters()),
                                                           allow_unused=True)):
                    if grad is not None:
                        param.grad = grad if param.grad is None else param.grad + grad
        arch = list(self.supernet.arch_parameters())
        average_gradients(arch)
        self.arch_optimizer.step()
        train_loss = self.weight_step(train, loss_fn)
        return {"train_loss": train_loss, "val_loss": float(val_loss.detach())}

    def extra_arch_loss(self) -> torch.Tensor | None:
        """A term of the architecture parameters alone added to the architecture loss (None:
        plain DARTS); a regularised variant overrides it (``beta_darts.py``)."""
        return None

    def unrolled_backward(self, train: Batch, val: Batch, loss_fn: LossFn) -> torch.Tensor:
        """Set the logits' gradients to the second-order DARTS estimate; return the validation loss."""
        net = self.supernet
        names = [f"net.{n}" for n, _ in net.net.named_parameters()]
        weights = [p for _, p in net.net.named_parameters()]
        arch = list(net.arch_parameters())
        xt, yt = train
        xv, yv = val
        xi = self.weight_optimizer.param_groups[0]["lr"]

        def loss_at(params: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return loss_fn(functional_call(net, dict(zip(names, params)), (x,)), y)

        # Virtual step w' = w - xi * (momentum * buffer + grad + weight_decay * w).
        grads = torch.autograd.grad(loss_at(weights, xt, yt), weights, allow_unused=True)
        virtual = []
        for w, g in zip(weights, grads):
            g = torch.zeros_like(w) if g is None else g
            buf = self.weight_optimizer.state.get(w, {}).get("momentum_buffer")
            direction = g + self.weight_decay * w.detach()
            if buf is not None:
                direction = direction + self.momentum * buf
            virtual.append((w.detach() - xi * direction).requires_grad_(True))
        val_loss = loss_at(virtual, xv, yv)
        d_all = torch.autograd.grad(val_loss, arch + virtual, allow_unused=True)
        d_alpha = [torch.zeros_like(a) if d is None else d for a, d in zip(arch, d_all[: len(arch)])]
        d_w = [torch.zeros_like(w) if d is None else d for w, d in zip(virtual, d_all[len(arch):])]
        # Finite-difference Hessian-vector product.
        eps = 0.01 / torch.cat([d.reshape(-1) for d in d_w]).norm().clamp_min(1e-12)
        plus = [w.detach() + eps * d for w, d in zip(weights, d_w)]
        minus = [w.detach() - eps * d for w, d in zip(weights, d_w)]
        g_plus = torch.autograd.grad(loss_at(plus, xt, yt), arch, allow_unused=True)
        g_minus = torch.autograd.grad(loss_at(minus, xt, yt), arch, allow_unused=True)
        for a, da, gp, gm in zip(arch, d_alpha, g_plus, g_minus):
            hessian = (0 if gp is None else gp) - (0 if gm is None else gm)
            a.grad = da - xi * hessian / (2 * eps)
        return val_loss


__all__ = ["DARTS", "Softmax"]
