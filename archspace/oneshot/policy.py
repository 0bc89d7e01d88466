"""Weighting policies: how a supernet weighs the candidates of every decision in one forward pass.

A supernet holds one :class:`WeightingPolicy`. Each forward pass opens a :class:`MixingPass`
(the supernet's ``forward`` does it) that asks the policy, at most once per label, for a
:class:`Mix`: which candidates run and with which weights. Mixed modules read their mix with
:func:`current_mix` — the one explicit context of a pass, set and cleared by the supernet, so
shared labels see the same (possibly sampled) weights and no module keeps per-pass state or a
policy setting of its own. What a pass drew comes back with its output
(:meth:`~archspace.oneshot.Supernet.run`: :attr:`MixingPass.mixes`), so a trainer reads its own
pass's draw, and decisions without logits (a cell's wiring) go through :meth:`MixingPass.pick`.

The policies live with their algorithms: ``Softmax`` (here, every supernet's default; DARTS's), ``Gumbel`` (gumbel.py),
``SampledPath`` (spos.py: SPOS and ENAS) and ``BinaryGates`` (proxyless.py: ProxylessNAS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from archspace.oneshot.arch import ArchParameters


@dataclass(frozen=True)
class Mix:
    """What a policy decides for one decision in one pass: which candidates run, and how.

    One typed record carries everything an algorithm needs the mixed modules to do, so a new
    algorithm adds a field here and its policy fills it, instead of reaching into mixed modules
    or keeping dicts on the side. Every field but the first two has a default that changes
    nothing.

    Attributes:
        indices: candidate positions (in the decision's value order) that run; the others are
            skipped entirely (no forward, no gradient).
        weights: one weight per entry of ``indices``, a tensor that may carry gradients to the
            architecture parameters.
        distribution: the weight of every candidate, running or not, where the policy drew one
            (a Gumbel sample, whose hard form runs one candidate): what a latency term prices.
            None: the weights of ``indices`` are all there is.
        edge_factor: a factor on the whole mixed output (PC-DARTS's edge normalisation, a cell
            edge's own weight); folded into every weight by :meth:`pairs`. None: 1.
        channel_fraction: the share of the input's channels the candidates see (PC-DARTS's
            partial channels): the rest bypass the op unchanged. 1.0: all of them.
        recompute: recompute this decision's candidates in the backward pass instead of keeping
            their activations (exact; the supernet's ``checkpoint_ops`` saving for this pass),
            e.g. ProxylessNAS's two-path architecture step.
        undrawn: weights of candidates that do not run, each added to a LayerChoice's output as
            a scalar (GDAS's NB201 code, ``forward_gdas``: zero in value, so the output is the
            drawn candidate's, while each weight's gradient, the sum of the output's gradient,
            reaches the logits). Other mixed forms have no output a scalar could join and
            ignore it. None: no such terms.
    """

    indices: tuple[int, ...]
    weights: torch.Tensor
    distribution: torch.Tensor | None = None
    edge_factor: torch.Tensor | None = None
    channel_fraction: float = 1.0
    recompute: bool = False
    undrawn: torch.Tensor | None = None

    def pairs(self) -> Iterator[tuple[int, torch.Tensor]]:
        """(candidate index, weight) for every candidate that runs, the edge factor folded in."""
        for position, index in enumerate(self.indices):
            weight = self.weights[position]
            yield index, weight if self.edge_factor is None else weight * self.edge_factor

    def scaled_weights(self) -> torch.Tensor:
        """The weights of ``indices`` with the edge factor folded in (a tensor, one per index)."""
        return self.weights if self.edge_factor is None else self.weights * self.edge_factor


class WeightingPolicy:
    """Turns a decision's logits into a :class:`Mix` for one forward pass.

    Subclasses implement :meth:`mix`; a policy that draws random numbers owns its generator and
    saves it in :meth:`state_dict`, so a resumed search draws what an uninterrupted one would.

    Attributes:
        differentiable: whether the weights carry gradients to the logits (False for a sampled
            single path, whose logits, if any, are moved by something else, e.g. a controller).
    """

    differentiable: bool = True

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        """The mix of decision ``label`` (candidates ``values``) under its ``logits``."""
        raise NotImplementedError

    def pick(self, label: str, values: Sequence[Any]) -> Mix | None:
        """The mix of a decision without logits of its own, or None to leave it relaxed.

        A cell's ``input_*``/``op_*`` decisions have no logits: DARTS relaxes them into the logits
        of the cell's edges, and a cell mixes every edge (the default, None). A policy that runs
        whole samples (ENAS's controller path) picks one candidate instead (a mix of one index),
        so the cell runs exactly that wiring. Asked through :meth:`MixingPass.pick`, at most once
        per label and pass, so cells sharing labels share the pick.
        """
        return None

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors and plain data)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def all_candidates(weights: torch.Tensor) -> Mix:
    """The mix that runs every candidate with ``weights`` (one per candidate)."""
    return Mix(tuple(range(int(weights.shape[-1]))), weights)


class Softmax(WeightingPolicy):
    """DARTS's continuous relaxation: every candidate runs, weighted by the softmax of its logits.

    Deterministic, the same in training and evaluation. It lives here, not in ``darts.py``, as
    the default policy of every supernet and trainer (``archspace.oneshot.darts.Softmax`` is it).
    """

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        return all_candidates(torch.softmax(logits, -1))


class MixingPass:
    """The weights of one forward pass: each label's mix, asked of the policy once and kept.

    Attributes:
        arch: the architecture parameters (logits, labels, candidate values).
        policy: the policy asked for each label's mix.
        training: whether the supernet runs in training mode.
    """

    def __init__(self, arch: ArchParameters, policy: WeightingPolicy, training: bool) -> None:
        self.arch = arch
        self.policy = policy
        self.training = training
        self._mixes: dict[str, Mix] = {}
        self._picked: dict[str, Mix | None] = {}
        self._shared: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def mix(self, label: str) -> Mix:
        """The mix of ``label`` in this pass."""
        found = self._mixes.get(label)
        if found is None:
            found = self.policy.mix(label, self.arch.logits(label), self.arch.names[label], training=self.training)
            self._mixes[label] = found
        return found

    @property
    def mixes(self) -> Mapping[str, Mix]:
        """label -> the mix asked of the policy in this pass (read-only): what the policy drew.

        The supernet asks for every label up front (:meth:`draw_all`), so after a supernet's
        forward this is every decision's. It is how a trainer reads the draw of its own pass
        (:meth:`~archspace.oneshot.Supernet.run`: the Gumbel sample its latency term prices, the
        pairs ProxylessNAS rescales), rather than from a record the policy keeps on the side.
        """
        return MappingProxyType(self._mixes)

    def pick(self, label: str, values: Sequence[Any]) -> Mix | None:
        """The policy's :meth:`WeightingPolicy.pick` for ``label`` (candidates ``values``) in this
        pass, asked once."""
        if label not in self._picked:
            self._picked[label] = self.policy.pick(label, values)
        return self._picked[label]

    def draw_all(self) -> None:
        """Ask the policy for every label's mix now (those already asked keep theirs).

        A checkpointed op's forward and its recomputation must run the same autograd operations.
        A mix first asked inside the op (a nested decision, a width choice its candidates share)
        is computed, with gradients to the logits, during the forward but only read back from this
        pass during the recomputation; asking for every mix before the op runs makes both alike.
        """
        for label in self.arch.names:
            self.mix(label)

    def shared(self, key: str, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``fn(x)`` computed once per input tensor in this pass (e.g. the ReLU that many ops of
        many edges apply to one state); ``key`` names ``fn``. The input is kept with the result, so
        a tensor id is never reused for another tensor while the pass lives."""
        found = self._shared.get((key, id(x)))
        if found is None or found[0] is not x:
            found = (x, fn(x))
            self._shared[(key, id(x))] = found
        return found[1]


_CURRENT: ContextVar[MixingPass | None] = ContextVar("archspace_mixing_pass", default=None)


@contextmanager
def mixing(current: MixingPass) -> Iterator[MixingPass]:
    """Make ``current`` the pass mixed modules read within the block (the supernet's forward)."""
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)


def current_pass() -> MixingPass | None:
    """The forward pass being mixed, or None outside a supernet's forward."""
    return _CURRENT.get()


def current_mix(label: str, arch: ArchParameters) -> Mix:
    """The mix of ``label`` (a decision of ``arch``) in the forward pass being run.

    A mixed module run on its own, outside its supernet's forward (e.g. to inspect one layer),
    has no policy to ask: it mixes every candidate by the softmax of its logits, the DARTS
    relaxation, which draws nothing and so cannot disturb a search.
    """
    current = _CURRENT.get()
    # The pass's own parameters, not ``arch``: a replica (nn.DataParallel) mixes with its copy.
    if current is None or label not in current.arch.names:
        return all_candidates(torch.softmax(arch.logits(label), -1))
    return current.mix(label)


__all__ = ["Mix", "MixingPass", "Softmax", "WeightingPolicy", "all_candidates", "current_mix", "current_pass", "mixing"]
