"""Parameter and FLOP counts of a model, or of one sample of a model space.

Counting a sample builds its model on the ``meta`` device (shapes only, no memory, no
initialisation), so a strategy's filter can reject samples by size in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from archspace.errors import SpaceDefinitionError
from archspace.nn.space import ModelSpace


def _model_for(model_or_space: nn.Module, sample: Mapping[str, Any] | None, *, meta: bool) -> nn.Module:
    if isinstance(model_or_space, ModelSpace) and not model_or_space.is_frozen:
        if sample is None:
            raise SpaceDefinitionError(
                "a model space has no single size: pass sample=... (e.g. space.default_sample())"
            )
        if meta:
            with torch.device("meta"):
                return model_or_space.freeze(sample)
        return model_or_space.freeze(sample)
    if sample is not None:
        raise SpaceDefinitionError("sample= is only for a model space; this model is already fixed")
    return model_or_space


def count_params(
    model_or_space: nn.Module, sample: Mapping[str, Any] | None = None, *, trainable_only: bool = False
) -> int:
    """The number of parameters of a model, or of the model ``sample`` picks from a space.

    Shared parameters count once.
    """
    model = _model_for(model_or_space, sample, meta=True)
    params = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())


def count_flops(
    model_or_space: nn.Module,
    inputs: torch.Tensor | Sequence[int] | tuple[torch.Tensor, ...],
    sample: Mapping[str, Any] | None = None,
) -> int:
    """Multiply-accumulate operations of one forward pass (the "FLOPs" of NAS papers).

    Counted with torch's own FLOP counter (matrix multiplications and convolutions; element-wise
    work is left out, as in MobileNet, ProxylessNAS and NNI's counter) and halved, since torch
    counts a multiply-accumulate as two operations.

    Args:
        model_or_space: a model, or a model space together with ``sample``.
        inputs: an input tensor, a tuple of them, or an input shape (batch dimension included).
        sample: the sample to count when ``model_or_space`` is a space.
    """
    shape_only = not isinstance(inputs, torch.Tensor) and not (
        isinstance(inputs, tuple) and inputs and isinstance(inputs[0], torch.Tensor)
    )
    model = _model_for(model_or_space, sample, meta=shape_only)
    if shape_only:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
        args: tuple[Any, ...] = (torch.empty(tuple(int(d) for d in inputs), device=device),)
    else:
        args = inputs if isinstance(inputs, tuple) else (inputs,)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*args)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


__all__ = ["count_flops", "count_params"]
