"""Mutable-aware torch layers: the plain layers, with sizes that may be value choices.

In a model space each layer holds the *largest* weight its choices allow (so that one-shot
strategies can share slices of it) and remembers its arguments; frozen, it becomes the plain torch
layer of the chosen size. Under a sample the arguments arrive as plain values already, and the
conversion only moves the existing parameters into an instance of the plain class (no copy, no
new initialisation), so a frozen model draws the same random numbers as a hand-written one.

Any ``nn.Module`` of your own gets the same treatment by subclassing :class:`MutableLayer`
together with it (see :class:`MutableLayer`); each layer class says in :attr:`MutableLayer.mixed_form`
how a one-shot supernet mixes its choices, or that it cannot.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from torch import nn

from archspace.errors import ArchspaceError, SpaceDefinitionError
from archspace.space.decisions import Categorical, ValueExpr, find_leaves, largest, resolve


@dataclass(frozen=True)
class MixedForm:
    """How a one-shot supernet mixes a layer whose arguments are choices.

    A layer without a mixed form (``MutableLayer.mixed_form = None``) makes ``to_supernet`` raise
    :class:`~archspace.errors.SpaceDefinitionError` naming it, as does a choice of an argument the
    mixed form does not list.

    Attributes:
        masked: argument -> output dimension masked by its choice: the supernet runs the largest
            layer and weights the first ``v`` entries of that dimension by the probability that the
            argument is at least ``v`` (the expected output of the channel-sliced layers).
        kernel: the kernel-size argument, whose choice weights centred crops of the largest kernel.
        free: arguments whose choice the largest layer serves unchanged (input sizes, padding).
        per_value: instead of masks, one plain layer per combination of the choices' values,
            weighted by its probability, as a LayerChoice of them would be. Meant for layers
            without parameters (Dropout); a layer with parameters gets separate ones per value.
    """

    masked: Mapping[str, int] = field(default_factory=dict)
    kernel: str | None = None
    free: frozenset[str] = frozenset()
    per_value: bool = False

    def covers(self, arg: str) -> bool:
        """Whether a choice of ``arg`` can be mixed."""
        return self.per_value or arg in self.masked or arg == self.kernel or arg in self.free


def _largest_dividing(value: Any, total: int) -> Any:
    """The largest possible value of ``value`` that divides ``total`` (heads, groups); else 1."""
    if not isinstance(value, ValueExpr):
        return value
    for v in sorted(value.possible_values(), reverse=True):
        if isinstance(v, int) and v > 0 and total % v == 0:
            return v
    return 1


class MutableLayer(nn.Module):
    """Base of layers whose constructor arguments may be choices or expressions of choices.

    To make your own layer's arguments choices, subclass this together with it; the plain class
    is found among the bases and the constructor accepts the same arguments::

        class Block(nn.Module):                 # an ordinary module
            def __init__(self, channels: int, expand: int = 4) -> None: ...

        class SearchableBlock(asp.nn.MutableLayer, Block):
            mixed_form = asp.nn.MixedForm(masked={"channels": 1})  # optional: one-shot support

        block = SearchableBlock(asp.choice("width", [16, 32]), expand=asp.choice("e", [2, 4]))

    In a space the layer is a ``Block`` built with the largest values (its decisions are
    ``width`` and ``e``); frozen, it is a plain ``Block(channels=32, expand=2)`` (the chosen
    values). Without ``mixed_form`` a supernet refuses it with a clear error; the archspace.nn
    layers below are written the same way, with explicit signatures.
    """

    _asp_base: ClassVar[type[nn.Module]]
    _asp_args: dict[str, Any]
    mixed_form: ClassVar[MixedForm | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The plain layer's arguments, any of which may be a choice.

        Every subclass gets its own constructor (the plain layer's signature, installed when the
        class is created, or written out as the archspace.nn layers do); this one only tells type
        checkers that choices are welcome.
        """
        raise NotImplementedError(f"{type(self).__name__} has no constructor of its own")  # pragma: no cover

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        plain = [b for b in cls.__bases__ if issubclass(b, nn.Module) and not issubclass(b, MutableLayer)]
        if plain and "_asp_base" not in cls.__dict__:
            cls._asp_base = plain[0]
        if getattr(cls, "_asp_base", None) is None:
            raise SpaceDefinitionError(
                f"{cls.__qualname__}: subclass MutableLayer together with the plain nn.Module it makes "
                "mutable, e.g. class SearchableBlock(archspace.nn.MutableLayer, Block)"
            )
        if "__init__" not in cls.__dict__ and plain:
            cls.__init__ = _generic_init(cls, cls._asp_base)  # type: ignore[method-assign]

    def _space_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """The arguments of the space form: every choice at its largest value."""
        return {k: largest(v) for k, v in args.items()}

    def _asp_setup(self, args: dict[str, Any]) -> None:
        space_args = self._space_args(args)
        try:
            self._asp_base.__init__(self, **space_args)
        except ArchspaceError:
            raise
        except Exception as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in space_args.items() if v is not None)
            what = "the largest values of its choices" if any(find_leaves(v) for v in args.values()) else "these values"
            raise SpaceDefinitionError(
                f"{type(self).__name__}: {self._asp_base.__name__}({shown}) with {what} failed: {exc}"
            ) from exc
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

    @property
    def space_arguments(self) -> Mapping[str, Any]:
        """The constructor arguments as given: plain values, choices and expressions of choices.

        A mixed form (``archspace.oneshot``) or a hub layer's own one reads which arguments are
        choices and resolves them per value; read-only, so the layer keeps the one record of them.
        """
        return MappingProxyType(self._asp_args)

    @classmethod
    def plain_class(cls) -> type[nn.Module]:
        """The plain torch class this layer makes mutable (what freezing builds)."""
        return cls._asp_base

    def to_plain(self, resolver: Any, path: str) -> nn.Module:
        """This layer as its plain torch class, with the sample's sizes."""
        if self.is_mutable:
            # Arguments still undecided: read them from the sample and build a fresh layer.
            values = {leaf.label: resolver.value(leaf, path) for leaf in self.value_decisions()}
            args = {k: resolve(v, values) for k, v in self._asp_args.items()}
            try:
                return self._asp_base(**args)
            except Exception as exc:
                shown = ", ".join(f"{k}={v!r}" for k, v in args.items() if v is not None)
                raise SpaceDefinitionError(
                    f"{type(self).__name__} at {path!r}: the sample {values!r} gives "
                    f"{self._asp_base.__name__}({shown}), which fails: {exc}"
                ) from exc
        plain = self._asp_base.__new__(self._asp_base)
        state = dict(self.__dict__)
        state.pop("_asp_args", None)
        plain.__dict__.update(state)
        return plain

    def extra_repr(self) -> str:
        text = self._asp_base.extra_repr(self)
        choices = {k: v for k, v in self._asp_args.items() if isinstance(v, ValueExpr) or find_leaves(v)}
        return f"{text}, choices={choices}" if choices else text


def _generic_init(cls: type[MutableLayer], base: type[nn.Module]) -> Any:
    """A constructor taking ``base``'s arguments (any of which may be choices)."""
    signature = inspect.signature(base.__init__)
    params = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params[1:]):
        raise SpaceDefinitionError(
            f"{cls.__qualname__}: {base.__qualname__}.__init__ takes *args, so its arguments have no "
            "names to record; give it named parameters, or write __init__ calling self._asp_setup(dict(...))"
        )
    var_keyword = [p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]

    def __init__(self: MutableLayer, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop(params[0].name)
        for name in var_keyword:
            arguments.update(arguments.pop(name, {}))
        self._asp_setup(arguments)

    __init__.__doc__ = f"Same arguments as :class:`{base.__qualname__}`; any of them may be choices."
    return __init__


CONV = MixedForm(masked={"out_channels": 1}, kernel="kernel_size",
                 free=frozenset({"in_channels", "padding", "bias", "padding_mode", "device", "dtype"}))
NORM = frozenset({"eps", "momentum", "affine", "track_running_stats", "device", "dtype"})


class Conv1d(MutableLayer, nn.Conv1d):
    """:class:`torch.nn.Conv1d` whose sizes may be choices."""

    mixed_form = CONV

    def __init__(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: Any = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                             stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
                             padding_mode=padding_mode, device=device, dtype=dtype))


class Conv2d(MutableLayer, nn.Conv2d):
    """:class:`torch.nn.Conv2d` whose channels, kernel size, stride, padding, dilation or groups
    may be choices (space form: the largest kernel and channel counts)."""

    mixed_form = CONV

    def __init__(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: Any = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                             stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
                             padding_mode=padding_mode, device=device, dtype=dtype))


class Conv3d(MutableLayer, nn.Conv3d):
    """:class:`torch.nn.Conv3d` whose channels, kernel size, stride, padding, dilation or groups
    may be choices; in a supernet, channel and (cubic) kernel choices are masked as for Conv2d."""

    mixed_form = CONV

    def __init__(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: Any = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                             stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
                             padding_mode=padding_mode, device=device, dtype=dtype))


class Linear(MutableLayer, nn.Linear):
    """:class:`torch.nn.Linear` whose feature counts may be choices."""

    mixed_form = MixedForm(masked={"out_features": -1}, free=frozenset({"in_features", "bias", "device", "dtype"}))

    def __init__(self, in_features: Any, out_features: Any, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(in_features=in_features, out_features=out_features, bias=bias,
                             device=device, dtype=dtype))


class BatchNorm1d(MutableLayer, nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` whose feature count may be a choice."""

    mixed_form = MixedForm(masked={"num_features": 1}, free=NORM)

    def __init__(self, num_features: Any, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(num_features=num_features, eps=eps, momentum=momentum, affine=affine,
                             track_running_stats=track_running_stats, device=device, dtype=dtype))


class BatchNorm2d(MutableLayer, nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` whose feature count may be a choice."""

    mixed_form = MixedForm(masked={"num_features": 1}, free=NORM)

    def __init__(self, num_features: Any, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(num_features=num_features, eps=eps, momentum=momentum, affine=affine,
                             track_running_stats=track_running_stats, device=device, dtype=dtype))


class LayerNorm(MutableLayer, nn.LayerNorm):
    """:class:`torch.nn.LayerNorm` whose normalised size may be a choice."""

    mixed_form = MixedForm(masked={"normalized_shape": -1},
                           free=frozenset({"eps", "elementwise_affine", "bias", "device", "dtype"}))

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(normalized_shape=normalized_shape, eps=eps,
                             elementwise_affine=elementwise_affine, bias=bias, device=device, dtype=dtype))


class GroupNorm(MutableLayer, nn.GroupNorm):
    """:class:`torch.nn.GroupNorm` whose group and channel counts may be choices.

    The space form has the largest channel count and the largest group count that divides it.
    No one-shot mixed form: group statistics of a channel-masked input are not those of the
    smaller layer, so a supernet refuses a GroupNorm with choices (fix its sizes, or use a
    LayerChoice of fixed GroupNorms).
    """

    mixed_form = None

    def __init__(self, num_groups: Any, num_channels: Any, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(num_groups=num_groups, num_channels=num_channels, eps=eps, affine=affine,
                             device=device, dtype=dtype))

    def _space_args(self, args: dict[str, Any]) -> dict[str, Any]:
        out = super()._space_args(args)
        out["num_groups"] = _largest_dividing(args["num_groups"], int(out["num_channels"]))
        return out


class Embedding(MutableLayer, nn.Embedding):
    """:class:`torch.nn.Embedding` whose vocabulary size and embedding size may be choices.

    In a supernet the embedding size is masked like a feature count (the table of the largest
    size, its first ``d`` columns weighted by the probability of size ``d`` or more); the largest
    vocabulary serves every smaller one.
    """

    mixed_form = MixedForm(masked={"embedding_dim": -1}, free=frozenset({"num_embeddings", "device", "dtype"}))

    def __init__(self, num_embeddings: Any, embedding_dim: Any, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(num_embeddings=num_embeddings, embedding_dim=embedding_dim, padding_idx=padding_idx,
                             max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                             sparse=sparse, device=device, dtype=dtype))


class MultiheadAttention(MutableLayer, nn.MultiheadAttention):
    """:class:`torch.nn.MultiheadAttention` whose embedding size and head count may be choices.

    The space form has the largest embedding size and the largest head count that divides it; a
    sample whose embedding size the chosen head count does not divide fails to freeze with an
    error naming both (constrain them with an expression, e.g. ``embed_dim=heads * 16``). No
    one-shot mixed form: the projections of a smaller attention are not slices of the larger one
    head by head, so a supernet refuses it (use a LayerChoice of fixed layers instead).
    """

    mixed_form = None

    def __init__(self, embed_dim: Any, num_heads: Any, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: Any = None, vdim: Any = None,
                 batch_first: bool = False, device: Any = None, dtype: Any = None) -> None:
        self._asp_setup(dict(embed_dim=embed_dim, num_heads=num_heads, dropout=dropout, bias=bias,
                             add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn, kdim=kdim, vdim=vdim,
                             batch_first=batch_first, device=device, dtype=dtype))

    def _space_args(self, args: dict[str, Any]) -> dict[str, Any]:
        out = super()._space_args(args)
        out["num_heads"] = _largest_dividing(args["num_heads"], int(out["embed_dim"]))
        return out


class Dropout(MutableLayer, nn.Dropout):
    """:class:`torch.nn.Dropout` whose rate ``p`` may be a choice.

    In a supernet the mixed form is the weighted sum of dropout at every candidate rate, which
    is what a LayerChoice of Dropout layers computes. Every term has the input as its
    expectation, so the architecture gradient says little about ``p``: a rate is better chosen by
    multi-trial search.
    """

    mixed_form = MixedForm(per_value=True)

    def __init__(self, p: Any = 0.5, inplace: bool = False) -> None:
        self._asp_setup(dict(p=p, inplace=inplace))


__all__ = [
    "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "Conv3d", "Dropout", "Embedding", "GroupNorm",
    "LayerNorm", "Linear", "MixedForm", "MultiheadAttention", "MutableLayer",
]
