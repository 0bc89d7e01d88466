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
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archspace.errors import ArchspaceError
from archspace.evaluate import EVALUATORS
from archspace.evaluate.data import digits
from archspace.experiment import EXECUTORS, Executor, Experiment
from archspace.nn.space import ModelSpace
from archspace.strategy import STRATEGIES, UnknownNameError

DATASETS = {"digits": digits}
CONFIG_KEYS = {"space", "space_args", "strategy", "evaluator", "experiment"}


class ConfigError(ArchspaceError, ValueError):
    """A config file or experiment file that cannot be turned into an experiment."""


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (recorded so that ``resume`` can tell if the file changed)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
    experiment.source = {"path": str(file), "module": name, "kind": "python", "sha256": file_digest(file)}
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


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ConfigError(f"space must be 'module:Class', got {target!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import space {target!r}: {exc}") from None


def construct(cls: Any, args: Mapping[str, Any], what: str, where: str, *positional: Any) -> Any:
    """``cls(*positional, **args)``, or a ConfigError naming a wrong key and the accepted ones."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        params = list(signature.parameters.values())
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        accepted = [p.name for p in params[len(positional):]
                    if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        unknown = sorted(set(args) - set(accepted))
        if unknown and not takes_any:
            raise ConfigError(f"{where}: {what} does not take {', '.join(map(repr, unknown))}; "
                              f"accepted arguments: {accepted}")
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
    if name not in EXECUTORS:
        raise UnknownNameError(f"{where}: unknown executor {name!r}; known executors: {sorted(EXECUTORS)}")
    concurrency = settings.get("concurrency", 1)
    executor: Executor = construct(EXECUTORS[name], {"concurrency": concurrency,
                                                     "trial_timeout": settings.get("trial_timeout"), **options},
                                   f"executor {name!r}", where)
    settings["executor"] = executor


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
    space_cls = _import(config["space"])
    if not (isinstance(space_cls, type) and issubclass(space_cls, ModelSpace)):
        raise ConfigError(f"{where}: space {config['space']!r} is not a ModelSpace class")
    space = construct(space_cls, dict(config.get("space_args") or {}), f"space {config['space']!r}", where)
    name, args = _named(config["strategy"], "strategy")
    if name.lower() not in STRATEGIES:
        raise UnknownNameError(f"{where}: unknown strategy {name!r}; known strategies: {sorted(STRATEGIES)}")
    strategy = construct(STRATEGIES[name.lower()], args, f"strategy {name!r}", where)
    name, args = _named(config["evaluator"], "evaluator")
    if name.lower() not in EVALUATORS or name.lower() == "functional":
        known = sorted(k for k in EVALUATORS if k != "functional")
        raise UnknownNameError(f"{where}: unknown evaluator {name!r}; known evaluators: {known}")
    data_name = args.pop("data", None)
    if not isinstance(data_name, str) or data_name not in DATASETS:
        raise ConfigError(f"{where}: evaluator data {data_name!r} is not one of {sorted(DATASETS)}")
    train, val = DATASETS[data_name]()
    evaluator = construct(EVALUATORS[name.lower()], args, f"evaluator {name!r}", where, train, val)
    settings = {str(k): v for k, v in dict(config.get("experiment") or {}).items()}
    directory = settings.get("directory")
    if file is not None and isinstance(directory, str) and not Path(directory).is_absolute():
        settings["directory"] = str(file.parent / directory)
    _executor(settings, where)
    experiment: Experiment = construct(Experiment, settings, "experiment", where, space, evaluator, strategy)
    experiment.source = ({"path": str(file), "module": "", "kind": "config", "sha256": file_digest(file)}
                         if file else None)
    return experiment


__all__ = ["ConfigError", "construct", "file_digest", "from_config", "load_experiment"]
