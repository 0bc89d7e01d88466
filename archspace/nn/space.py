"""ModelSpace and fixed_arch: from a space to a plain model, by re-running its constructor.

A ``ModelSpace`` subclass's ``__init__`` is wrapped (once, at class creation) so that the
outermost constructor, when it returns, either checks the space (no sample in force) or replaces
every decision-carrying module by its chosen plain module (a sample in force). ``freeze(sample)``
re-runs the constructor with the recorded arguments under the sample; ``fixed_arch`` lets the user
do the same by calling the class. Because choices resolve to plain values while ``__init__`` runs,
ordinary Python in ``__init__`` sees the chosen architecture.
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from torch import nn

from archspace.errors import (
    ArchspaceError,
    ChoiceMisuseError,
    MissingLabelError,
    SpaceDefinitionError,
    UnknownLabelError,
    short_repr,
)
from archspace.nn.context import building, current_frozen, frozen_context, space_context
from archspace.nn.mutable import Resolver
from archspace.nn.walk import collect_space, explain_misuse, freeze_tree
from archspace.space.samples import Sample, check_sample_shape, load_sample
from archspace.space.search_space import SearchSpace


def _wrap_init(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: ModelSpace, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.get("_asp_constructing"):  # a super().__init__() call inside the chain
            init(self, *args, **kwargs)
            return
        self.__dict__["_asp_constructing"] = True
        self.__dict__["_asp_init_args"] = (args, kwargs)
        try:
            with building() as outermost:
                try:
                    init(self, *args, **kwargs)
                except Exception as exc:
                    # Under a sample with a mistyped label, the decision it meant stays undecided
                    # and fails somewhere below: the label is the mistake to name.
                    unknown = self._asp_unknown_labels(exc) if outermost else None
                    if unknown is not None:
                        raise unknown from exc
                    # A torch layer fed a choice fails deep inside torch (or inside our generic
                    # misuse guard): name the layer and the archspace.nn layer to use instead.
                    if not isinstance(exc, ArchspaceError) or isinstance(exc, ChoiceMisuseError):
                        better = explain_misuse(exc)
                        if better is not None:
                            raise better from exc
                    raise
                if outermost:
                    self._asp_finalize()
        finally:
            del self.__dict__["_asp_constructing"]

    return __init__


class ModelSpace(nn.Module):
    """An ``nn.Module`` with decision points: subclass it and write ``__init__`` and ``forward``.

    Example:
        >>> import torch.nn as nn, archspace as asp
        >>> class Net(asp.ModelSpace):
        ...     def __init__(self):
        ...         super().__init__()
        ...         width = asp.choice("width", [8, 16])
        ...         self.fc = asp.nn.Linear(4, width)
        ...     def forward(self, x):
        ...         return self.fc(x)
        >>> space = Net()
        >>> list(space.search_space())
        ['width']
        >>> space.freeze({"width": 16}).fc
        Linear(in_features=4, out_features=16, bias=True)
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _wrap_init(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(self) -> None:
        super().__init__()

    def _asp_finalize(self) -> None:
        state = current_frozen()
        if state is None:
            # Walk the module tree once, here: it fails at construction on duplicate labels or
            # misused choices, and every later search_space() (each trial validates its sample)
            # reuses the result instead of walking a large model again.
            self.__dict__["_asp_space"] = collect_space(self)
            return
        try:
            freeze_tree(self, "", Resolver(state.sample, state.consumed))
        except MissingLabelError as exc:
            unknown = self._asp_unknown_labels(exc)
            if unknown is not None:
                raise unknown from exc
            raise
        self.__dict__["_asp_frozen_sample"] = dict(state.sample)
        extra = set(state.sample) - state.consumed
        if extra:
            # Labels nothing read: inactive decisions are fine, unknown labels are a mistake.
            space = self._asp_unbuilt_space()
            for label in sorted(extra):
                if label not in space:
                    raise space.unknown_label(label)

    def _asp_unbuilt_space(self) -> SearchSpace:
        """The search space of this class with this instance's constructor arguments (built anew)."""
        args, kwargs = copy.deepcopy(self.__dict__["_asp_init_args"])
        with space_context():
            return type(self)(*args, **kwargs).search_space()

    def _asp_unknown_labels(self, failure: Exception) -> UnknownLabelError | None:
        """When a sample lacks a label while it holds labels the space does not have (a typo in a
        sample file: ``widht``), the error that names those, with the label each probably meant.

        ``fixed_arch`` cannot check a sample before construction (it does not know the class), and
        the first decision without a value stops construction: without this the user is told only
        that ``width`` has no value, not that the file says ``widht``."""
        state = current_frozen()
        if state is None:
            return None
        unread = set(state.sample) - state.consumed
        if not unread:
            return None
        try:
            space = self._asp_unbuilt_space()
        except Exception:  # the space cannot be built either: the original error says enough
            return None
        unknown = sorted(label for label in unread if label not in space)
        if not unknown:
            return None
        absent = [label for label in space if label not in state.sample]
        meant = [f"{short_repr(label)} (did you mean {close[0]!r}?)"
                 if (close := difflib.get_close_matches(label, absent, n=1)) else short_repr(label)
                 for label in unknown]
        known = list(space)
        shown = known if len(known) <= 20 else known[:20] + ["..."]
        first = (str(failure).splitlines() or [type(failure).__name__])[0]
        return UnknownLabelError(f"the sample has unknown label(s) {', '.join(meant)}; the space's labels are "
                                 f"{short_repr(shown, 400)} (building stopped at: {short_repr(first, 300)})")

    # The space ------------------------------------------------------------------------------
    @property
    def is_frozen(self) -> bool:
        """True for a model built under a sample (it holds no decision)."""
        return "_asp_frozen_sample" in self.__dict__

    @property
    def frozen_sample(self) -> Sample | None:
        """The sample this model was built under, or None for a space."""
        sample = self.__dict__.get("_asp_frozen_sample")
        return dict(sample) if sample is not None else None

    def search_space(self) -> SearchSpace:
        """The decisions of this space: an ordered mapping label -> decision, with conditions.

        Computed once when the space is constructed; assigning a module to an attribute of the
        space recomputes it (after deeper surgery on its module tree, call
        :meth:`refresh_search_space`).
        """
        cached = self.__dict__.get("_asp_space")
        return cached if cached is not None else self.refresh_search_space()

    def refresh_search_space(self) -> SearchSpace:
        """Walk the module tree again (after changing it by hand) and keep the result."""
        self.__dict__.pop("_asp_space", None)
        space = collect_space(self)
        if not self.is_frozen and not self.__dict__.get("_asp_constructing"):
            self.__dict__["_asp_space"] = space
        return space

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, nn.Module) and "_asp_space" in self.__dict__:
            del self.__dict__["_asp_space"]  # the tree changes: walk it again when asked
        super().__setattr__(name, value)

    def add_module(self, name: str, module: nn.Module | None) -> None:
        self.__dict__.pop("_asp_space", None)
        super().add_module(name, module)

    def size(self) -> int:
        """The number of distinct architectures in the space."""
        return self.search_space().size()

    def random_sample(self, seed: int | None = None) -> Sample:
        """A uniformly random value for each active decision."""
        return self.search_space().random_sample(seed)

    def default_sample(self) -> Sample:
        """The first candidate of each active decision."""
        return self.search_space().default_sample()

    def validate(self, sample: Mapping[str, Any]) -> Sample:
        """Check ``sample`` against the space; return it with inactive labels dropped."""
        return self.search_space().validate(sample)

    def equivalence_key(self, sample: Mapping[str, Any]) -> Hashable | None:
        """A key that is equal for samples known to be one network (None: none known).

        Override it where the space has symmetries its labels do not show, such as isomorphic
        cells (:meth:`archspace.hub.NasBench201.equivalence_key`): the one-shot re-check then
        spends its stand-alone trainings on different networks, not on relabellings of one. The
        re-check also merges samples whose subnets compute the same function with the supernet's
        weights, which catches unused choices but not isomorphic twins (their shared weights
        differ)."""
        return None

    def standalone_form(self) -> ModelSpace:
        """The form of this space a chosen sample is trained alone in (the one-shot re-check builds
        its candidates from it); this space itself unless a subclass has a separate search form
        whose samples all belong to it too (:meth:`archspace.hub.NasBench201.standalone_form`)."""
        return self

    def freeze(self, sample: Mapping[str, Any]) -> nn.Module:
        """Build the plain model of ``sample``: the constructor re-run under it.

        The result is an instance of this class in which every LayerChoice, InputChoice, Repeat,
        Cell and ``archspace.nn`` layer has been replaced by its chosen plain module; its weights
        are freshly initialised.
        """
        if self.is_frozen:
            raise SpaceDefinitionError("this model is already frozen; freeze the model space instead")
        normalized = self.validate(sample)
        args, kwargs = copy.deepcopy(self.__dict__.get("_asp_init_args", ((), {})))
        with frozen_context(normalized):
            return type(self)(*args, **kwargs)


ModelSpace.__init__ = _wrap_init(ModelSpace.__init__)  # type: ignore[method-assign]


@contextmanager
def fixed_arch(sample: Mapping[str, Any] | str | os.PathLike[str]) -> Iterator[Sample]:
    """Within the block, constructing a ModelSpace class builds the model of ``sample``.

    Args:
        sample: a sample dict, or the path of a JSON sample file (as written by
            :func:`archspace.save_sample` or an experiment's export).

    Example:
        >>> import archspace as asp
        >>> with asp.fixed_arch({"width": 32}):
        ...     asp.choice("width", [16, 32])
        32
    """
    if isinstance(sample, (str, os.PathLike)):
        data = load_sample(sample)
    else:
        data = check_sample_shape(sample)
    with frozen_context(data):
        yield data


__all__ = ["ModelSpace", "fixed_arch"]
