"""Parameters, FLOPs and activation memory of a sample in microseconds, after one pass over the space.

Counting a sample directly freezes its network (on the meta device) and runs it: milliseconds for
small spaces, a good part of a second for a large DARTS network. A strategy that filters thousands
of samples by size wants it faster, so :func:`profile` splits the space once into units
(:mod:`archspace.hardware._decompose`: the fixed part, every LayerChoice candidate, Repeat block,
Cell edge op and mutable layer, each with the condition under which it is active and the input it
sees) and then answers each sample with a sum of table lookups. The pass checks itself against
direct counting; a space whose units do not add up (a unit's input shape depends on decisions it
is not keyed by) is answered by memoised direct counting instead and says so in
:attr:`Profile.exact_decomposition` and the log.

Definitions (batch and dtype as in the input shape; float32 by default):

- ``params``: parameters of the frozen network, shared ones once (as :func:`count_params`).
- ``flops``: multiply-adds of one eval-mode forward pass (as :func:`count_flops`: torch's counter,
  convolutions and matrix products, halved).
- ``activation_bytes``: bytes of every tensor the forward pass creates (each operator's new
  outputs; views and in-place writes excluded, parameters excluded): the activation traffic of
  one inference, an upper bound of its peak activation memory.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from archspace.errors import SpaceDefinitionError
from archspace.hardware._decompose import Decomposition, decompose, hkey, meta_copy, run_counted
from archspace.hardware.counting import count_flops, count_params
from archspace.nn.space import ModelSpace
from archspace.space.samples import Sample, fingerprint

logger = logging.getLogger("archspace")


@dataclass(frozen=True)
class Profile:
    """The size of one sample's network.

    Attributes:
        params: parameters (shared ones counted once).
        flops: multiply-adds of one forward pass at ``input_shape``.
        activation_bytes: bytes of the tensors one forward pass creates (see the module docstring).
        input_shape: the input shape the figures are for (batch included).
        exact_decomposition: True when summed from the space's unit table; False when the space is
            not separable and the figures come from direct counting (equally exact, slower).
    """

    params: int
    flops: int
    activation_bytes: int
    input_shape: tuple[int, ...]
    exact_decomposition: bool

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params, "flops": self.flops, "activation_bytes": self.activation_bytes,
                "input_shape": list(self.input_shape), "exact_decomposition": self.exact_decomposition}


def default_input_shape(space: ModelSpace) -> tuple[int, ...]:
    """The space's ``example_input(1)`` shape (batch 1).

    Raises:
        SpaceDefinitionError: the space has no ``example_input``.
    """
    make = getattr(space, "example_input", None)
    if not callable(make):
        raise SpaceDefinitionError(f"{type(space).__name__} has no example_input(); pass input_shape=(1, C, H, W)")
    example = make(1)
    if not isinstance(example, torch.Tensor):
        raise SpaceDefinitionError(f"{type(space).__name__}.example_input(1) is not a tensor; pass input_shape=...")
    return tuple(example.shape)


def _shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    if isinstance(input_shape, (str, bytes)) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape):
        raise SpaceDefinitionError(f"input_shape must be positive ints, batch first (e.g. (1, 3, 32, 32)), got "
                                   f"{input_shape!r}")
    return tuple(int(d) for d in input_shape)


class Profiler:
    """Profiles samples of one space at one input shape; the one-time pass runs on first use.

    Args:
        space: the model space (not a frozen model).
        input_shape: the input shape, batch first; default ``space.example_input(1)``'s shape.
        verify: random samples the one-time pass checks against direct counting (besides the default).

    Example:
        >>> from archspace.hub import NasBench201
        >>> space = NasBench201.small()
        >>> prof = Profiler(space)
        >>> p = prof.profile(space.default_sample())
        >>> p.params == count_params(space, space.default_sample())
        True
    """

    def __init__(self, space: ModelSpace, input_shape: Sequence[int] | None = None, *, verify: int = 3) -> None:
        if not isinstance(space, ModelSpace) or space.is_frozen:
            raise SpaceDefinitionError(f"profile a model space, not {type(space).__name__} "
                                       "(count a fixed model with count_params / count_flops)")
        self.space = space
        self.input_shape = _shape(input_shape) if input_shape is not None else default_input_shape(space)
        self.verify = verify
        self._decomposition: Decomposition | None = None
        self._memo: dict[str, Profile] = {}
        self._domains = {label: list(d.values) for label, d in space.search_space().items()}

    @property
    def decomposition(self) -> Decomposition:
        """The one-time pass's result (computed on first access)."""
        if self._decomposition is None:
            shape = self.input_shape

            def direct(sample: Sample) -> tuple[int, int]:
                return count_params(self.space, sample), count_flops(self.space, shape, sample)

            dec = decompose(self.space, shape, verify=self.verify, direct=direct)
            if dec.separable:
                logger.info("profile: %s split into %d units in %.2f s (%d covering samples)",
                            type(self.space).__name__, len(dec.entries), dec.seconds, len(dec.samples))
            else:
                logger.warning("profile: %s is not separable into units (%s); profiles count each sample "
                               "directly (exact, memoised, slower)", type(self.space).__name__, dec.reason)
            self._decomposition = dec
        return self._decomposition

    @property
    def exact_decomposition(self) -> bool:
        """Whether profiles are sums of unit figures (else direct counting)."""
        return self.decomposition.separable

    def profile(self, sample: Mapping[str, Any]) -> Profile:
        """The params, FLOPs and activation bytes of ``sample``'s network.

        Raises:
            SampleError: ``sample`` does not fit the space (unknown label, missing active label, bad value).
        """
        normalized = self.space.validate(sample)
        dec = self.decomposition
        if dec.separable:
            values = {label: hkey(v) for label, v in normalized.items()}
            summed = dec.table(self._domains).total(values)
            if summed is None:  # a combination no covering sample reached: measure it now, exactly
                from archspace.hardware._decompose import observe

                dec.absorb(observe(meta_copy(self.space), dec.units, normalized, self.input_shape, {}))
                summed = dec.table(self._domains).total(values) if dec.separable else None
            if summed is not None:
                return Profile(int(summed[0]), int(summed[1]), int(summed[2]), self.input_shape, True)
        return self._direct(normalized)

    def _direct(self, sample: Sample) -> Profile:
        key = fingerprint(sample)
        known = self._memo.get(key)
        if known is None:
            with torch.device("meta"):
                model = self.space.freeze(sample)
            model.eval()
            flops, alloc = run_counted(model, (torch.empty(self.input_shape, device="meta"),), {})
            known = Profile(count_params(model), flops, alloc, self.input_shape, False)
            self._memo[key] = known
        return known


_PROFILERS: weakref.WeakKeyDictionary[ModelSpace, dict[tuple[int, ...], Profiler]] = weakref.WeakKeyDictionary()


def profiler(space: ModelSpace, input_shape: Sequence[int] | None = None) -> Profiler:
    """The cached :class:`Profiler` of ``space`` at ``input_shape`` (one per space instance and shape)."""
    shape = _shape(input_shape) if input_shape is not None else default_input_shape(space)
    per_space = _PROFILERS.setdefault(space, {})
    if shape not in per_space:
        per_space[shape] = Profiler(space, shape)
    return per_space[shape]


def profile(space: ModelSpace, sample: Mapping[str, Any], *, input_shape: Sequence[int] | None = None) -> Profile:
    """Params, FLOPs (multiply-adds) and activation bytes of ``sample``, from the space's unit table.

    The first call on a space (and input shape) runs the one-time pass; later calls take
    microseconds. Equal to :func:`count_params` and :func:`count_flops` of the frozen model.

    Example:
        >>> from archspace.hub import NasBench201
        >>> space = NasBench201.small()
        >>> p = profile(space, space.default_sample())
        >>> p.flops == count_flops(space, (1, 3, 32, 32), space.default_sample())
        True
    """
    return profiler(space, input_shape).profile(sample)


__all__ = ["Profile", "Profiler", "default_input_shape", "profile", "profiler"]
