"""The one registry type (archspace.registry) and the package's registries built from it."""

from __future__ import annotations

from typing import Any

import pytest

import archspace as asp
from archspace.errors import ArchspaceError, UnknownNameError
from archspace.registry import Registry, RegistryError, UnknownArgumentError, accepted_arguments


class Base:
    def __init__(self, *, size: int = 1, seed: int = 0) -> None:
        self.size = size
        self.seed = seed


class Child(Base):
    def __init__(self, *, order: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order = order


def make_registry() -> Registry[Base]:
    registry: Registry[Base] = Registry("widget")

    @registry.register("Plain")
    class Plain(Base):
        pass

    registry.add("child", Child)
    return registry


def test_register_create_and_list() -> None:
    registry = make_registry()
    assert registry.list() == ["child", "plain"]
    assert list(registry) == ["child", "plain"] and sorted(registry) == registry.list()
    assert len(registry) == 2
    built = registry.create("child", order=3, size=5)
    assert isinstance(built, Child) and (built.order, built.size, built.seed) == (3, 5, 0)
    assert registry["child"] is Child and registry.get("child") is Child
    assert registry.items()[0] == ("child", Child)


def test_the_decorator_returns_the_class_unchanged() -> None:
    registry: Registry[object] = Registry("thing")

    @registry.register("t")
    class Thing:
        pass

    assert registry["t"] is Thing and Thing.__name__ == "Thing"


def test_names_are_case_insensitive() -> None:
    registry = make_registry()
    assert "PLAIN" in registry and "plain" in registry and "Child" in registry
    assert registry["CHILD"] is Child
    assert isinstance(registry.create("ChIlD"), Child)
    assert 3 not in registry  # not a string: not a name


def test_unknown_name_lists_the_known_ones() -> None:
    registry = make_registry()
    with pytest.raises(UnknownNameError) as info:
        registry.create("gizmo")
    message = str(info.value)
    assert message.startswith("unknown widget 'gizmo'; known widgets: ['child', 'plain']")
    assert isinstance(info.value, ArchspaceError) and isinstance(info.value, KeyError)
    with pytest.raises(UnknownNameError, match=r"did you mean 'plain'\?"):
        registry["plian"]


def test_a_typo_in_a_keyword_names_the_accepted_arguments() -> None:
    registry = make_registry()
    with pytest.raises(UnknownArgumentError) as info:
        registry.create("plain", sise=2)
    message = str(info.value)
    assert "widget 'plain' does not take 'sise'" in message
    assert "accepted arguments: ['size', 'seed']" in message
    assert "did you mean 'sise' -> 'size'" in message
    assert isinstance(info.value, ArchspaceError) and isinstance(info.value, TypeError)


def test_keywords_passed_on_through_kwargs_are_checked_against_the_base() -> None:
    registry = make_registry()
    with pytest.raises(UnknownArgumentError, match=r"accepted arguments: \['order', 'size', 'seed'\]"):
        registry.create("child", colour="red")
    assert accepted_arguments(Child) == (["order", "size", "seed"], False)


def test_a_factory_taking_any_keyword_is_not_checked() -> None:
    registry: Registry[dict[str, Any]] = Registry("record")
    registry.add("any", lambda **kwargs: dict(kwargs))
    assert registry.create("any", whatever=1) == {"whatever": 1}


def test_positional_arguments_are_left_out_of_the_accepted_list() -> None:
    def reader(root: str, train: bool = True) -> tuple[str, bool]:
        return root, train

    registry: Registry[tuple[str, bool]] = Registry("reader")
    registry.add("r", reader)
    assert registry.create("r", "data/", train=False) == ("data/", False)
    with pytest.raises(UnknownArgumentError, match=r"does not take 'root'; accepted arguments: \['train'\]"):
        registry.create("r", "data/", root="x")


def test_duplicate_registration_is_refused() -> None:
    registry = make_registry()
    with pytest.raises(RegistryError, match="'plain' is already registered"):
        registry.add("PLAIN", Child)
    with pytest.raises(RegistryError, match="already registered"):
        registry.register("child")(Base)
    assert registry["plain"] is not Child and registry["child"] is Child
    registry.add("child", Child)  # the same object again is harmless (re-imported module)
    assert len(registry) == 2


def test_bad_registrations_are_refused() -> None:
    registry = make_registry()
    with pytest.raises(RegistryError, match="non-empty string"):
        registry.add("", Base)
    with pytest.raises(RegistryError, match="must be a class or function"):
        registry.add("five", 5)  # type: ignore[arg-type]


def test_the_package_registries_share_one_type() -> None:
    from archspace.data import DATASETS
    from archspace.evaluate import EVALUATORS
    from archspace.experiment import EXECUTORS
    from archspace.hub import HUB
    from archspace.oneshot import ONESHOT
    from archspace.strategy import STRATEGIES

    for registry in (STRATEGIES, EVALUATORS, EXECUTORS, HUB, ONESHOT, DATASETS):
        assert isinstance(registry, Registry)
    assert STRATEGIES["random"] is asp.strategy.Random  # type: ignore[attr-defined]
    assert "classification" in EVALUATORS and "inline" in EXECUTORS and "digits" in DATASETS
    assert {"darts", "gumbel"} <= set(ONESHOT) and {"darts", "nasbench201"} <= set(HUB)


def test_top_level_create_and_list_functions() -> None:
    from archspace.experiment import InlineExecutor
    from archspace.oneshot import DARTS
    from archspace.strategy import GridSearch

    assert asp.list_strategies() == sorted(asp.list_strategies()) and "tpe" in asp.list_strategies()
    assert isinstance(asp.create_strategy("grid", shuffle=True), GridSearch)
    assert {"darts", "nasbench201", "pfld"} <= set(asp.list_spaces())
    assert type(asp.create_space("nasbench201", channels=4, num_cells=1)).__name__ == "NasBench201"
    assert "classification" in asp.list_evaluators()
    assert {"darts", "gumbel", "enas", "spos", "proxylessnas"} <= set(asp.list_oneshot())
    darts = asp.create_oneshot("darts", order=2, epochs=3)
    assert isinstance(darts, DARTS) and (darts.order, darts.epochs) == (2, 3)
    assert asp.list_executors() == ["inline", "process", "ray"]
    assert isinstance(asp.create_executor("inline", 1), InlineExecutor)
    assert {"cifar10", "digits", "landmarks"} <= set(asp.list_datasets())
    with pytest.raises(UnknownArgumentError, match="'epoch' -> 'epochs'"):
        asp.create_oneshot("gumbel", epoch=3)
    with pytest.raises(UnknownNameError, match="known strategies"):
        asp.create_strategy("annealing")


def test_experiment_is_importable_from_the_top_level() -> None:
    from archspace import Experiment
    from archspace.experiment import Experiment as Original

    assert Experiment is Original and asp.Experiment is Original
    assert "Experiment" in asp.__all__ and "Experiment" in dir(asp)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        asp.Nothing  # type: ignore[attr-defined]  # noqa: B018


def test_unknown_name_error_keeps_its_old_import_path() -> None:
    from archspace.strategy import UnknownNameError as Old

    assert Old is UnknownNameError and asp.UnknownNameError is UnknownNameError
