"""What every zero-cost proxy shares: the batch it scores with, the layers it reads, and the
rules that make a score repeatable (a private copy of the model, a seeded generator).

A zero-cost proxy scores an *untrained* network from one minibatch (or from no data at all) so
that a search can rank candidates without training them. Every proxy here follows one contract:

* **larger is better** — a score is meant to rise with the accuracy the network reaches when
  trained (GraSP's sign is flipped for that, as the zero-cost paper does);
* **the caller's model is never changed** — proxies that rewrite weights (synflow takes their
  absolute values) or install hooks work on a deep copy;
* **a seed fixes everything random** — the model's initialisation when the proxy builds it from
  a space (:func:`archspace.proxies.score_sample`), and any random input a proxy draws.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archspace.errors import ArchspaceError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ProxyError(ArchspaceError, ValueError):
    """A proxy cannot score this model with this input (no labels for a loss-based proxy, an
    empty batch, a model without the layers the proxy reads)."""


@dataclass(frozen=True)
class Batch:
    """The data a proxy scores with: one minibatch, its labels, and the loss that links them.

    Data-free proxies (params, FLOPs, synflow) read only ``inputs``' shape.

    Args:
        inputs: a batch of network inputs, ``(N, ...)``.
        targets: the labels, or ``None`` for proxies that need no loss.
        loss_fn: the training loss (default cross-entropy, as the zero-cost paper uses).
    """

    inputs: torch.Tensor
    targets: torch.Tensor | None = None
    loss_fn: LossFn = F.cross_entropy

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, torch.Tensor) or self.inputs.dim() < 1 or len(self.inputs) == 0:
            raise ProxyError(f"Batch.inputs must be a non-empty tensor of shape (N, ...), got {_describe(self.inputs)}")
        if self.targets is not None:
            if not isinstance(self.targets, torch.Tensor) or len(self.targets) != len(self.inputs):
                raise ProxyError(f"Batch.targets must be a tensor with one label per input ({len(self.inputs)}), "
                                 f"got {_describe(self.targets)}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input, without the batch dimension."""
        return tuple(self.inputs.shape[1:])

    def loss(self, model: nn.Module, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """The loss of ``model`` on ``inputs[start:stop]``.

        Raises:
            ProxyError: the batch has no targets.
        """
        if self.targets is None:
            raise ProxyError("this proxy needs labels: pass Batch(inputs, targets)")
        return self.loss_fn(model(self.inputs[start:stop]), self.targets[start:stop])


def _describe(value: Any) -> str:
    return f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__


@dataclass(frozen=True)
class ProxyScore:
    """One proxy's score of one network, and what it cost."""

    name: str
    value: float
    seconds: float


class Proxy:
    """A zero-cost proxy: :meth:`compute` scores a private copy of a network.

    Subclasses set ``name``, ``needs_data`` (reads real inputs, not only their shape) and
    ``needs_labels`` (takes a loss), and implement :meth:`compute`.
    """

    name: str = ""
    needs_data: bool = True
    needs_labels: bool = True

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        """The score of ``model`` (a copy the proxy may change freely); larger is better."""
        raise NotImplementedError

    def __call__(self, model: nn.Module, batch: Batch, *, seed: int = 0) -> ProxyScore:
        """Score ``model`` on ``batch`` without changing it; ``seed`` fixes any random input."""
        if self.needs_labels and batch.targets is None:
            raise ProxyError(f"proxy {self.name!r} takes a loss: pass Batch(inputs, targets)")
        start = time.perf_counter()
        work = copy.deepcopy(model)
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout or any other draw inside the forward pass
            value = float(self.compute(work, batch, generator))
        return ProxyScore(self.name, value if math.isfinite(value) else float("nan"), time.perf_counter() - start)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def prunable_layers(model: nn.Module) -> Iterator[nn.Conv2d | nn.Conv1d | nn.Conv3d | nn.Linear]:
    """The convolutions and linear layers: the weights the pruning-at-init saliencies score."""
    for module in model.modules():
        if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear):
            yield module


def weight_sum(model: nn.Module, per_weight: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
    """Σ over the prunable layers of ``per_weight(weight, weight.grad)`` summed; layers that got no
    gradient (cut off from the output, e.g. behind a ``none`` edge) add 0."""
    total = 0.0
    for layer in prunable_layers(model):
        if layer.weight.grad is not None:
            total += float(per_weight(layer.weight.detach(), layer.weight.grad.detach()).sum())
    return total


__all__ = ["Batch", "LossFn", "Proxy", "ProxyError", "ProxyScore", "prunable_layers", "weight_sum"]
