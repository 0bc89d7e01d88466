"""Experiments from files: a Python file defining ``experiment``, or a YAML/TOML config.

A config names everything by registry name or import path::

    space: myspace:SkipCNN                        # module:attribute; myspace.py may sit beside
                                                  # the config or in the working directory
    space_args: {}
    strategy: {name: random, dedup: true}         # or just: random
    evaluator: {name: classification, data: digits, epochs: 2}
    experiment: {max_trials: 30, concurrency: 2, directory: runs/digits}
    scheduler: {name: asha, max_resource: 2}      # optional: stop poor trials early

A one-shot search is the same file with a one-shot algorithm as the strategy (``strategy: {name:
darts, epochs: 10}``, no ``max_trials``): the strategy name is looked up among the multi-trial
strategies and then among the one-shot algorithms (:data:`archspace.oneshot.ONESHOT`).

Names are looked up in the registries (:data:`archspace.strategy.STRATEGIES`,
:data:`archspace.evaluate.EVALUATORS`, :data:`archspace.data.DATASETS`,
:data:`archspace.experiment.EXECUTORS`), case-insensitively. ``data`` is a dataset name or a
mapping with its arguments, e.g. ``data: {name: cifar10, root: data/}``; an executor given as a
mapping takes its own settings, e.g. ``executor: {name: process, max_trials_per_worker: 5}``.
``scheduler`` names a multi-fidelity scheduler of :data:`archspace.schedule.SCHEDULERS` with its
settings (``asha``, ``hyperband``, ``median``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archspace.data import DATASETS
from archspace.errors import ArchspaceError, UnknownNameError
from archspace.evaluate import EVALUATORS
from archspace.experiment import EXECUTORS, Executor, Experiment, RunSource
from archspace.experiment.source import SourceImportError, add_import_paths, file_digest, import_folders, import_object
from archspace.nn.space import ModelSpace
from archspace.oneshot import ONESHOT
from archspace.registry import Registry, UnknownArgumentError, check_arguments
from archspace.schedule import SCHEDULERS
from archspace.strategy import STRATEGIES

CONFIG_KEYS = {"space", "space_args", "strategy", "evaluator", "experiment", "scheduler"}


class ConfigError(ArchspaceError, ValueError):
    """A config file or experiment file that cannot be turned into an experiment."""


def load_experiment(path: str | Path) -> Experiment:
    """The experiment a ``.py``, ``.yaml``/``.yml`` or ``.toml`` file defines."""
    file = Path(path).resolve()
    if not file.exists():
        raise ConfigError(f"no such file: {str(file)!r}")
    if file.suffix == ".py":
        return _from_python(file)
    if file.suffix in (".yaml", ".yml", ".toml"):
        try:
            return from_config(_read_config(file), file)
        except ArchspaceError as exc:
            if file.name in str(exc):
                raise
            raise type(exc)(f"{file.name}: {exc}") from None  # every message names the file
    raise ConfigError(f"cannot run {file.name!r}: expected a .py, .yaml, .yml or .toml file")


def _from_python(file: Path) -> Experiment:
    name = "archspace_user_" + hashlib.sha1(str(file).encode()).hexdigest()[:10]
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folders = import_folders(file.parent)
    add_import_paths(folders)
    spec.loader.exec_module(module)
    experiment = getattr(module, "experiment", None)
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"{file.name} must define a module-level `experiment = archspace.experiment.Experiment(...)`")
    experiment.source = RunSource.python_file(file, name, folders)
    return experiment


def _read_config(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {file.name}: it is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {file.name}: {exc.strerror or exc}") from None
    try:
        if file.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml/toml errors, deep nesting (RecursionError), bad escapes
        raise ConfigError(f"cannot parse {file.name}: {str(exc)[:500]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file.name} must hold a mapping with keys {sorted(CONFIG_KEYS)}")
    return data


def _named(section: Any, what: str) -> tuple[str, dict[str, Any]]:
    if isinstance(section, str):
        return section, {}
    if isinstance(section, Mapping) and isinstance(section.get("name"), str):
        args = dict(section)
        return args.pop("name"), args
    raise ConfigError(f"{what} must be a name or a mapping with a 'name' key, got {section!r}")


def _import(target: str, folders: tuple[str, ...]) -> Any:
    """The ``module:Class`` a config names; its own folder and the working directory are searched
    first, so ``myspace.py`` beside the config imports as ``myspace``."""
    try:
        return import_object(target, folders)
    except SourceImportError as exc:
        raise ConfigError(str(exc)) from None


def _lookup(registry: Registry[Any], name: str, where: str, hidden: tuple[str, ...] = ()) -> Any:
    """The entry ``name`` of ``registry``, or an UnknownNameError prefixed with ``where``.

    ``hidden`` names entries a config cannot use (the functional and Lightning evaluators need
    Python code: a function, a LightningModule and dataloaders).
    """
    if name not in registry or name.lower() in hidden:
        known = [key for key in registry.list() if key not in hidden]
        raise UnknownNameError(f"{where}: unknown {registry.kind} {name!r}; known {registry.plural}: {known}")
    return registry.get(name)


def _strategy(name: str, where: str) -> Any:
    """A multi-trial strategy or, failing that, a one-shot algorithm of that name."""
    if name in STRATEGIES:
        return STRATEGIES.get(name)
    if name in ONESHOT:
        return ONESHOT.get(name)
    raise UnknownNameError(f"{where}: unknown strategy {name!r}; known strategies: {STRATEGIES.list()}, "
                           f"and one-shot algorithms: {ONESHOT.list()}")


def construct(cls: Any, args: Mapping[str, Any], what: str, where: str, *positional: Any) -> Any:
    """``cls(*positional, **args)``, or a ConfigError naming a wrong key and the accepted ones."""
    try:
        check_arguments(cls, args, what, skip=len(positional))
    except UnknownArgumentError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        return cls(*positional, **args)
    except ArchspaceError as exc:
        raise ConfigError(f"{where}: bad {what} settings: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad {what} settings: {str(exc)[:500]}") from None


def _executor(settings: dict[str, Any], where: str) -> None:
    """Turn ``executor: {name: process, max_trials_per_worker: 5}`` into an executor instance."""
    spec = settings.get("executor")
    if spec is None or isinstance(spec, str):
        return
    name, options = _named(spec, "executor")
    factory = _lookup(EXECUTORS, name, where)
    concurrency = settings.get("concurrency", 1)
    executor: Executor = construct(factory, {"concurrency": concurrency,
                                                     "trial_timeout": settings.get("trial_timeout"), **options},
                                   f"executor {name!r}", where)
    settings["executor"] = executor


def _dataset(spec: Any, where: str) -> tuple[Any, Any]:
    """Load the evaluator's ``data``: a dataset name, or a mapping with ``name`` and its arguments."""
    name: Any = spec
    args: dict[str, Any] = {}
    if isinstance(spec, Mapping) and "name" in spec:
        name, args = _named(spec, "evaluator data")
    if not isinstance(name, str) or name not in DATASETS:
        raise ConfigError(f"{where}: evaluator data {name!r} is not one of {DATASETS.list()}")
    try:
        data: tuple[Any, Any] = construct(DATASETS[name], args, f"dataset {name!r}", where)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot load dataset {name!r}: {exc}") from None
    return data


def from_config(config: Mapping[str, Any], file: Path | None = None) -> Experiment:
    """Build an experiment from a parsed config (see the module docstring)."""
    where = file.name if file else "config"
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(map(str, unknown))}; allowed keys: {sorted(CONFIG_KEYS)}")
    for key in ("space", "strategy", "evaluator"):
        if key not in config:
            raise ConfigError(f"{where}: missing {key!r}")
    for key in ("space_args", "experiment"):
        if config.get(key) is not None and not isinstance(config[key], Mapping):
            raise ConfigError(f"{where}: {key} must be a mapping, got {type(config[key]).__name__}")
    if not isinstance(config["space"], str):
        raise ConfigError(f"{where}: space must be 'module:Class', got {config['space']!r}")
    folders = import_folders(file.parent if file else None)
    space_cls = _import(config["space"], folders)
    if not (isinstance(space_cls, type) and issubclass(space_cls, ModelSpace)):
        raise ConfigError(f"{where}: space {config['space']!r} is not a ModelSpace class")
    space = construct(space_cls, dict(config.get("space_args") or {}), f"space {config['space']!r}", where)
    name, args = _named(config["strategy"], "strategy")
    strategy = construct(_strategy(name, where), args, f"strategy {name!r}", where)
    name, args = _named(config["evaluator"], "evaluator")
    evaluator_cls = _lookup(EVALUATORS, name, where, hidden=("functional", "lightning"))
    train, val = _dataset(args.pop("data", None), where)
    evaluator = construct(evaluator_cls, args, f"evaluator {name!r}", where, train, val)
    settings = {str(k): v for k, v in dict(config.get("experiment") or {}).items()}
    directory = settings.get("directory")
    if file is not None and isinstance(directory, str) and not Path(directory).is_absolute():
        settings["directory"] = str(file.parent / directory)
    _executor(settings, where)
    if config.get("scheduler") is not None:
        if "scheduler" in settings:
            raise ConfigError(f"{where}: the scheduler goes in its own top-level 'scheduler' key, not under 'experiment'")
        name, args = _named(config["scheduler"], "scheduler")
        settings["scheduler"] = construct(_lookup(SCHEDULERS, name, where), args, f"scheduler {name!r}", where)
    experiment: Experiment = construct(Experiment, settings, "experiment", where, space, evaluator, strategy)
    experiment.source = RunSource.config_file(file, folders) if file else None
    return experiment


__all__ = ["ConfigError", "construct", "file_digest", "from_config", "load_experiment"]
