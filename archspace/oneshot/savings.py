"""The savings of the mixed ops: the same values and gradients in less time and memory.

:class:`Savings` says which a supernet uses (``to_supernet(space, ...)`` sets them);
:func:`weighted_form` rewrites ``w * candidate(x)`` for the ones that change nothing in the
mathematics (one shared leading ReLU, the weight folded into a trailing batch norm). Kept apart
from the mixed ops so that the arithmetic of a candidate and the mixing of candidates each read
on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Savings:
    """How a supernet's mixed ops save time and memory (``to_supernet(space, ...)`` sets them).

    The first three change nothing in the mathematics: the same forward values and the same
    gradients (up to float rounding: the order of sums, a product taken in another place), so
    they are on by default.

    Attributes:
        skip_zero: never run a zero candidate (a candidate with a ``zero_output = True`` class
            attribute, or a parameter-free one named ``none``/``zero``) while another candidate
            runs. Its term ``w * 0`` adds exactly nothing to the output, and its weight's gradient
            ``<dL/dout, 0>`` is exactly 0 either way, so the logits' gradients (through the other
            weights of the softmax) are unchanged. It saves the op, the product and the saved zero
            tensor. (Only an op output holding inf or NaN, where ``0 * inf`` is NaN, would differ.)
            A candidate watched by forward hooks still runs.
        share_relu: candidates that start with a non-inplace ``nn.ReLU`` (ReLU-conv-BN, separable
            and dilated convs, or a module defining ``forward_after_relu``) read one ``relu(x)``
            per input tensor and pass instead of one each: within a pass it is shared by every
            edge reading that state. Saves the repeated ReLUs and the copies autograd keeps of
            them. A module watched by forward hooks is never skipped (it runs as itself).
        fold_weight: a candidate ending in batch norm (``BatchNorm1d/2d/3d``, possibly followed
            by identities such as drop path at probability 0) computes ``w * bn(h)`` as one batch
            norm with affine weight ``w * gamma`` (or ``w``) and bias ``w * beta``: the same values
            up to rounding and the same gradients, but batch norm's output is not kept for ``w``'s
            gradient (its backward needs only its input), one tensor less per such candidate,
            and one multiplication pass less.
        checkpoint_ops: opt-in. Each mixed op keeps only its input for the backward pass and
            recomputes its candidates there (``torch.utils.checkpoint``): much less memory for
            about one more forward of the mixed ops in time. Batch-norm running statistics are
            restored after the recomputation and the same mix and random state are used, so
            values, gradients and buffers are those of the plain run.
    """

    skip_zero: bool = True
    share_relu: bool = True
    fold_weight: bool = True
    checkpoint_ops: bool = False


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
WeightedForm = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The modules a chain of ``nn.Sequential`` runs in order (containers with hooks stay whole)."""
    if isinstance(module, nn.Sequential) and not hooked(module):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def hooked(module: nn.Module) -> bool:
    """Whether forward hooks watch the module (then it runs as itself, never skipped or fused)."""
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _is_identity(module: nn.Module) -> bool:
    """Whether the module returns its input unchanged right now (``nn.Identity``, or a module
    saying so through an ``is_identity`` attribute, e.g. drop path with probability 0)."""
    return type(module) is nn.Identity or getattr(module, "is_identity", False) is True


def _weighted_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``w * bn(x)`` as one batch norm whose affine weight (and bias) carry ``w``.

    The same running-statistics update as ``bn(x)``; batch norm's backward needs only its input
    and statistics, so the output is not kept for ``w``'s gradient as ``w * bn(x)`` keeps it.
    """
    bn._check_input_dim(x)
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    use_batch = bn.training or (bn.running_mean is None and bn.running_var is None)
    track = not bn.training or bn.track_running_stats
    channels = x.shape[1]
    # Contiguous: CPU batch norm on channels-last input got the gradients wrong with a stride-0 weight.
    weight = w.expand(channels).contiguous() if bn.weight is None else w * bn.weight
    bias = None if bn.bias is None else w * bn.bias
    return nn.functional.batch_norm(x, bn.running_mean if track else None, bn.running_var if track else None,
                                    weight, bias, use_batch, factor, bn.eps)


def weighted_form(module: nn.Module, savings: Savings) -> tuple[bool, WeightedForm] | None:
    """``(takes_relu, f)`` with ``f(r, w) == w * module(x)``, where ``r`` is ``relu(x)`` if
    ``takes_relu`` else ``x``, when a saving applies to the module; None when none does.

    With ``share_relu``, a leading non-inplace ReLU (or a module's ``forward_after_relu``) is left
    to the caller, who computes it once per input. With ``fold_weight``, a trailing batch norm
    (before modules that are the identity right now) takes ``w`` into its affine transform. The
    module is walked through its ``nn.Sequential`` chains, so the state dict stays as it is.
    """
    leaves = _leaves(module)
    takes_relu = False
    head: Callable[[torch.Tensor], torch.Tensor] | None = None
    first = leaves[0]
    after = getattr(first, "forward_after_relu", None)
    if hooked(first):
        pass
    elif savings.share_relu and type(first) is nn.ReLU and not first.inplace:
        takes_relu, leaves = True, leaves[1:]
    elif savings.share_relu and callable(after):
        takes_relu, head, leaves = True, after, leaves[1:]
    tail: nn.modules.batchnorm._BatchNorm | None = None
    if savings.fold_weight:
        body = list(leaves)
        while body and _is_identity(body[-1]):
            body.pop()
        if body and type(body[-1]) in _BATCH_NORMS and not hooked(body[-1]):
            last = body.pop()
            assert isinstance(last, nn.modules.batchnorm._BatchNorm)
            tail, leaves = last, body
    if not takes_relu and tail is None:
        return None

    def run(r: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = head(r) if head is not None else r
        for layer in leaves:
            out = layer(out)
        return _weighted_batch_norm(tail, out, w) if tail is not None else w * out

    return takes_relu, run


__all__ = ["Savings", "WeightedForm", "hooked", "weighted_form"]
