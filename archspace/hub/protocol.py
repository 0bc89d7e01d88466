"""What every ready-made space offers on top of being a :class:`~archspace.nn.ModelSpace`.

The shared suites (the hub contract, the one-shot contract) and smoke runs build every registered
space in a small form and feed it a batch it accepts. Those two needs are this protocol, so the
suites treat every space alike and a new space joins by registering, with no list or special case
to edit:

- :meth:`HubSpace.small` (a classmethod): a small instance, cheap enough for a test; with
  ``oneshot=True`` the form a one-shot supernet trains (for DARTS its search form, with ``none``
  and non-affine batch norm); spaces with a single form return the same small instance either way.
- :meth:`HubSpace.example_input`: a random batch of ``batch_size`` inputs the instance accepts.
  Spaces whose input does not depend on the instance's arguments may implement it as a
  ``staticmethod`` so it can also be called on the class (``NasBench201.example_input(3)``).

Example:
    >>> from archspace.hub import HUB, HubSpace, space_class
    >>> all(isinstance(space_class(name).small(), HubSpace) for name in HUB)
    True
    >>> space_class("darts").small().example_input(4).shape
    torch.Size([4, 3, 32, 32])
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from archspace.nn.space import ModelSpace


@runtime_checkable
class HubSpace(Protocol):
    """A ready-made space's test and smoke-run hooks (see the module docstring).

    ``isinstance(obj, HubSpace)`` checks that both methods exist (on an instance or a class).
    """

    @classmethod
    def small(cls, *, oneshot: bool = False) -> ModelSpace:
        """A small instance of the space (its one-shot search form with ``oneshot=True``)."""
        ...

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        """A random batch of ``batch_size`` inputs this space's networks accept."""
        ...


__all__ = ["HubSpace"]
