"""Experiments from files: a Python file defining ``experiment``, or a YAML/TOML config.

A config names everything by registry name or import path::

    space: archspace.testing.spaces:ExampleNet     # module:attribute
    space_args: {}
    strategy: {name: random, dedup: true}         # or just: random
    evaluator: {name: classification, data: digits, epochs: 2}
    experiment: {max_trials: 30, concurrency: 2, directory: runs/digits}
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archspace.errors import ArchspaceError
from archspace.evaluate import EVALUATORS
from archspace.evaluate.data import digits
from archspace.experiment import Experiment
from archspace.nn.space import ModelSpace
from archspace.strategy import STRATEGIES, UnknownNameError, create_strategy

DATASETS = {"digits": digits}
CONFIG_KEYS = {"space", "space_args", "strategy", "evaluator", "experiment"}


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
        return from_config(_read_config(file), file)
    raise ConfigError(f"cannot run {file.name!r}: expected a .py, .yaml, .yml or .toml file")


def _from_python(file: Path) -> Experiment:
    name = "archspace_user_" + hashlib.sha1(str(file).encode()).hexdigest()[:10]
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(file.parent))
    spec.loader.exec_module(module)
    experiment = getattr(module, "experiment", None)
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"{file.name} must define a module-level `experiment = archspace.experiment.Experiment(...)`")
    experiment.source = {"path": str(file), "module": name, "kind": "python"}
    return experiment


def _read_config(file: Path) -> dict[str, Any]:
    text = file.read_text()
    try:
        if file.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise ConfigError(f"cannot parse {file.name}: {exc}") from None
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


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ConfigError(f"space must be 'module:Class', got {target!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import space {target!r}: {exc}") from None


def from_config(config: Mapping[str, Any], file: Path | None = None) -> Experiment:
    """Build an experiment from a parsed config (see the module docstring)."""
    where = file.name if file else "config"
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed keys: {sorted(CONFIG_KEYS)}")
    for key in ("space", "strategy", "evaluator"):
        if key not in config:
            raise ConfigError(f"{where}: missing {key!r}")
    space_cls = _import(str(config["space"]))
    if not (isinstance(space_cls, type) and issubclass(space_cls, ModelSpace)):
        raise ConfigError(f"{where}: space {config['space']!r} is not a ModelSpace class")
    space = space_cls(**dict(config.get("space_args") or {}))
    name, args = _named(config["strategy"], "strategy")
    if name.lower() not in STRATEGIES:
        raise UnknownNameError(f"{where}: unknown strategy {name!r}; known strategies: {sorted(STRATEGIES)}")
    strategy = create_strategy(name, **args)
    name, args = _named(config["evaluator"], "evaluator")
    if name.lower() not in EVALUATORS or name.lower() == "functional":
        known = sorted(k for k in EVALUATORS if k != "functional")
        raise UnknownNameError(f"{where}: unknown evaluator {name!r}; known evaluators: {known}")
    data_name = args.pop("data", None)
    if data_name not in DATASETS:
        raise ConfigError(f"{where}: evaluator data {data_name!r} is not one of {sorted(DATASETS)}")
    train, val = DATASETS[data_name]()
    evaluator = EVALUATORS[name.lower()](train, val, **args)  # type: ignore[call-arg]
    settings = dict(config.get("experiment") or {})
    if file is not None and "directory" in settings and not Path(settings["directory"]).is_absolute():
        settings["directory"] = str(file.parent / settings["directory"])
    try:
        experiment = Experiment(space, evaluator, strategy, **settings)
    except TypeError as exc:
        raise ConfigError(f"{where}: bad experiment settings: {exc}") from None
    experiment.source = {"path": str(file), "module": "", "kind": "config"} if file else None
    return experiment


__all__ = ["ConfigError", "from_config", "load_experiment"]
