"""One registry type for everything archspace builds by name.

Strategies, one-shot algorithms, hub spaces, evaluators, executors and datasets each live in one
:class:`Registry`. An entry is any callable that builds the thing (usually its class): register it
with the :meth:`Registry.register` decorator or :meth:`Registry.add`, then build it with
:meth:`Registry.create`, which checks the keyword arguments against the callable's signature
before calling it, so a typo names the accepted arguments instead of failing deep inside.

Example:
    >>> from archspace.registry import Registry
    >>> SHAPES: Registry[object] = Registry("shape")
    >>> @SHAPES.register("Square")
    ... class Square:
    ...     def __init__(self, *, side: float = 1.0) -> None:
    ...         self.side = side
    >>> SHAPES.list()
    ['square']
    >>> SHAPES.create("SQUARE", side=2.0).side
    2.0
    >>> SHAPES.create("square", sid=2.0)
    Traceback (most recent call last):
    ...
    archspace.registry.UnknownArgumentError: shape 'square' does not take 'sid'; accepted arguments: ['side'] (did you mean 'sid' -> 'side'?)
    >>> SHAPES.create("circle")
    Traceback (most recent call last):
    ...
    archspace.errors.UnknownNameError: unknown shape 'circle'; known shapes: ['square']
"""

from __future__ import annotations

import builtins
import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from archspace.errors import ArchspaceError, UnknownNameError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_KEYWORD_KINDS = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class RegistryError(ArchspaceError, ValueError):
    """A registration that cannot be accepted (an empty or already-taken name, a non-callable)."""


class UnknownArgumentError(ArchspaceError, TypeError):
    """Keyword arguments that the registered callable does not accept."""


def accepted_arguments(factory: Callable[..., Any], skip: int = 0) -> tuple[list[str], bool]:
    """The keyword arguments ``factory`` accepts, and whether it also takes any keyword at all.

    The first ``skip`` positional parameters (given positionally by the caller) are left out. For a
    class whose ``__init__`` ends in ``**kwargs``, the base classes' ``__init__`` arguments are
    followed up the MRO (the usual ``super().__init__(**kwargs)`` pattern), so
    ``DARTS(order=1, epochs=3)`` checks ``epochs`` against the base trainer.

    Args:
        factory: a class or function.
        skip: how many leading positional parameters the caller fills.

    Returns:
        ``(names, takes_any)``: the accepted keyword names in signature order, and ``True`` when
        the signature cannot be read or ends in a ``**kwargs`` that leads nowhere checkable.

    Example:
        >>> def f(a: int, b: int = 0, *, c: int = 1) -> None: ...
        >>> accepted_arguments(f, skip=1)
        (['b', 'c'], False)
    """
    inits = [vars(klass)["__init__"] for klass in getattr(factory, "__mro__", ())
             if klass is not object and "__init__" in vars(klass)]
    if isinstance(factory, type) and inits:
        names: list[str] = []
        for depth, init in enumerate(inits):
            try:
                params = list(inspect.signature(init).parameters.values())[1:]
            except (TypeError, ValueError):
                return names, True
            if depth == 0:
                params = params[skip:]
            names += [p.name for p in params if p.kind in _KEYWORD_KINDS and p.name not in names]
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                return names, False
        return names, True
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return [], True
    params = params[skip:]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return [p.name for p in params if p.kind in _KEYWORD_KINDS], takes_any


def check_arguments(factory: Callable[..., Any], kwargs: Mapping[str, Any], what: str, skip: int = 0) -> None:
    """Raise :class:`UnknownArgumentError` if ``factory`` does not take every key of ``kwargs``.

    Args:
        factory: the class or function about to be called.
        kwargs: the keyword arguments it will get.
        what: how the message names the factory, e.g. ``"strategy 'random'"``.
        skip: how many leading positional parameters the caller fills.

    Raises:
        UnknownArgumentError: naming the unknown keys, a close match when there is one, and the
            accepted arguments.
    """
    accepted, takes_any = accepted_arguments(factory, skip)
    unknown = sorted(str(key) for key in kwargs if key not in accepted)
    if not unknown or takes_any:
        return
    hints = [f"{key!r} -> {match[0]!r}" for key in unknown
             if (match := difflib.get_close_matches(key, accepted, n=1, cutoff=0.75))]
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    raise UnknownArgumentError(f"{what} does not take {', '.join(map(repr, unknown))}; "
                               f"accepted arguments: {accepted}{hint}")


class Registry(Generic[T]):
    """Named factories of one kind (``T`` is what they build), looked up case-insensitively.

    A registry behaves as a read-only mapping from lower-case name to factory: ``name in
    registry``, ``registry[name]``, ``sorted(registry)`` and ``len(registry)`` all work.

    Args:
        kind: what one entry is called in messages, e.g. ``"strategy"``.
        plural: its plural (default: ``kind + "s"``).
        entries: initial ``name -> factory`` entries, added in order with :meth:`add`.
    """

    def __init__(self, kind: str, plural: str | None = None, *,
                 entries: Mapping[str, Callable[..., T]] | None = None) -> None:
        self.kind = kind
        self.plural = plural if plural is not None else f"{kind}s"
        self._entries: dict[str, Callable[..., T]] = {}
        for name, factory in (entries or {}).items():
            self.add(name, factory)

    # Registration ---------------------------------------------------------------------------------
    def add(self, name: str, factory: Callable[..., T]) -> Callable[..., T]:
        """Register ``factory`` under ``name`` (case-insensitive) and return it.

        Raises:
            RegistryError: the name is empty or taken, or ``factory`` is not callable.
        """
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise RegistryError(f"{self.kind} {name!r} must be a class or function, got {factory!r}")
        key = name.lower()
        if key in self._entries and self._entries[key] is not factory:
            raise RegistryError(f"{self.kind} name {key!r} is already registered to {self._entries[key]!r}; "
                                f"pick another name")
        self._entries[key] = factory
        return factory

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator form of :meth:`add`: ``@REGISTRY.register("name")`` above a class or function."""

        def decorate(factory: F) -> F:
            self.add(name, factory)
            return factory

        return decorate

    # Lookup ---------------------------------------------------------------------------------------
    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``.

        Raises:
            UnknownNameError: nothing is registered under that name; the message lists the names.
        """
        key = name.lower() if isinstance(name, str) else name
        try:
            return self._entries[key]
        except (KeyError, TypeError):
            pass
        close = difflib.get_close_matches(key, list(self._entries), n=1) if isinstance(key, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownNameError(f"unknown {self.kind} {name!r}; known {self.plural}: {self.list()}{hint}") from None

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> T:
        """Build the entry ``name`` with ``factory(*args, **kwargs)``, checking the keywords first.

        Raises:
            UnknownNameError: ``name`` is not registered.
            UnknownArgumentError: a keyword the factory does not take; the message names the
                accepted arguments.
        """
        factory = self.get(name)
        check_arguments(factory, kwargs, f"{self.kind} {name.lower()!r}", skip=len(args))
        return factory(*args, **kwargs)

    def list(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    # Mapping protocol -----------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Callable[..., T]:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._entries)

    def in_order(self) -> builtins.list[str]:
        """The registered names in the order they were registered (messages that rank entries)."""
        return builtins.list(self._entries)

    def items(self) -> builtins.list[tuple[str, Callable[..., T]]]:
        """``(name, factory)`` pairs sorted by name."""
        return [(name, self._entries[name]) for name in self.list()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {self.list()})"


__all__ = ["Registry", "RegistryError", "UnknownArgumentError", "UnknownNameError", "accepted_arguments",
           "check_arguments"]
