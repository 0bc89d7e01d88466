"""Mutable-aware torch layers: the plain layers, with sizes that may be value choices.

In a model space each layer holds the *largest* weight its choices allow (so that one-shot
strategies can share slices of it) and remembers its arguments; frozen, it becomes the plain torch
layer of the chosen size. Under a sample the arguments arrive as plain values already, and the
conversion only moves the existing parameters into an instance of the plain class (no copy, no
new initialisation), so a frozen model draws the same random numbers as a hand-written one.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from archspace.space.decisions import Categorical, ValueExpr, find_leaves, largest, resolve


class MutableLayer(nn.Module):
    """Mixin for layers whose constructor arguments may be choices or expressions of choices."""

    _asp_base: ClassVar[type[nn.Module]]
    _asp_args: dict[str, Any]

    def _asp_setup(self, args: dict[str, Any]) -> None:
        self._asp_base.__init__(self, **{k: largest(v) for k, v in args.items()})
        self._asp_args = args

    def value_decisions(self) -> list[Categorical]:
        """The decisions this layer's arguments depend on."""
        found: dict[str, Categorical] = {}
        for value in self._asp_args.values():
            for leaf in find_leaves(value):
                found.setdefault(leaf.label, leaf)
        return list(found.values())

    @property
    def is_mutable(self) -> bool:
        """True while some argument is still undecided."""
        return any(find_leaves(v) for v in self._asp_args.values())

    def to_plain(self, resolver: Any, path: str) -> nn.Module:
        """This layer as its plain torch class, with the sample's sizes."""
        if self.is_mutable:
            # Arguments still undecided: read them from the sample and build a fresh layer.
            values = {leaf.label: resolver.value(leaf, path) for leaf in self.value_decisions()}
            return self._asp_base(**{k: resolve(v, values) for k, v in self._asp_args.items()})
        plain = self._asp_base.__new__(self._asp_base)
        state = dict(self.__dict__)
        state.pop("_asp_args", None)
        plain.__dict__.update(state)
        return plain

    def extra_repr(self) -> str:
        text = self._asp_base.extra_repr(self)
        choices = {k: v for k, v in self._asp_args.items() if isinstance(v, ValueExpr) or find_leaves(v)}
        return f"{text}, choices={choices}" if choices else text


class Conv1d(MutableLayer, nn.Conv1d):
    """:class:`torch.nn.Conv1d` whose sizes may be choices."""

    _asp_base = nn.Conv1d

    def __init__(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: Any = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                             stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
                             padding_mode=padding_mode, device=device, dtype=dtype))


class Conv2d(MutableLayer, nn.Conv2d):
    """:class:`torch.nn.Conv2d` whose channels, kernel size, stride, padding, dilation or groups
    may be choices (space form: the largest kernel and channel counts)."""

    _asp_base = nn.Conv2d

    def __init__(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: Any = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                             stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
                             padding_mode=padding_mode, device=device, dtype=dtype))


class Linear(MutableLayer, nn.Linear):
    """:class:`torch.nn.Linear` whose feature counts may be choices."""

    _asp_base = nn.Linear

    def __init__(self, in_features: Any, out_features: Any, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(in_features=in_features, out_features=out_features, bias=bias,
                             device=device, dtype=dtype))


class BatchNorm1d(MutableLayer, nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` whose feature count may be a choice."""

    _asp_base = nn.BatchNorm1d

    def __init__(self, num_features: Any, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(num_features=num_features, eps=eps, momentum=momentum, affine=affine,
                             track_running_stats=track_running_stats, device=device, dtype=dtype))


class BatchNorm2d(MutableLayer, nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` whose feature count may be a choice."""

    _asp_base = nn.BatchNorm2d

    def __init__(self, num_features: Any, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(num_features=num_features, eps=eps, momentum=momentum, affine=affine,
                             track_running_stats=track_running_stats, device=device, dtype=dtype))


class LayerNorm(MutableLayer, nn.LayerNorm):
    """:class:`torch.nn.LayerNorm` whose normalised size may be a choice."""

    _asp_base = nn.LayerNorm

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(normalized_shape=normalized_shape, eps=eps,
                             elementwise_affine=elementwise_affine, bias=bias, device=device, dtype=dtype))


__all__ = ["BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "LayerNorm", "Linear", "MutableLayer"]
