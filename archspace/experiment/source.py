"""The run's source: the file an experiment was defined in, and how to import its objects again.

The command line builds experiments from a Python file or a YAML/TOML config. Workers in other
processes (the process pool, Ray) must import that Python file under the module name its classes
were pickled with, and find the user's own modules (``myspace.py`` beside the config) on their
import path; ``archspace resume`` and ``doctor`` must find the file again and see whether it
changed. All of them read :class:`RunSource`; the store keeps it as JSON (:meth:`RunSource.to_json`,
:meth:`RunSource.from_json`), so no other module knows its fields' names.

An experiment started from a Python script has no source file; :class:`SpaceRef` records where
its space's class lives and its constructor arguments, so ``archspace export --onnx`` can rebuild
the space without running the script.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from archspace.errors import ArchspaceError
from archspace.space.samples import canonical_json, fingerprint

SourceKind = Literal["python", "config"]


class SourceImportError(ArchspaceError, ImportError):
    """A ``module:Class`` name (or a recorded space) that cannot be imported; the message says where
    it looked."""


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file, hex (how a run notices that its source changed)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def import_folders(beside: str | Path | None = None) -> tuple[str, ...]:
    """The folders a user's own modules are imported from: the folder of the file that names them
    (a config beside ``myspace.py``), then the working directory, as Python does for a script."""
    folders = [] if beside is None else [str(Path(beside).resolve())]
    cwd = os.getcwd()
    return tuple(folders + ([cwd] if cwd not in folders else []))


def add_import_paths(paths: Sequence[str]) -> None:
    """Put ``paths`` first on ``sys.path`` (those not there yet), in order."""
    for path in reversed([p for p in paths if p]):
        if path not in sys.path:
            sys.path.insert(0, path)


def import_object(target: str, paths: Sequence[str] = (), what: str = "space") -> Any:
    """The object ``module:attr`` names, importing ``module`` with ``paths`` put on ``sys.path`` first.

    Raises:
        SourceImportError: ``target`` is not ``module:attr``, or cannot be imported; the message
            names the missing module and the folders tried.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SourceImportError(f"{what} must be 'module:Class' (e.g. myspace:SkipCNN), got {target!r}")
    add_import_paths(paths)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            tried = ", ".join(repr(p) for p in paths) if paths else "(no extra folders)"
            raise SourceImportError(f"cannot import {what} {target!r}: no module named {missing!r} in the folders "
                                    f"tried first ({tried}) nor among the installed packages; put {missing}.py "
                                    f"in one of those folders, or install it") from None
        raise SourceImportError(f"cannot import {what} {target!r}: module {module_name!r} imports {missing!r}, "
                                f"which is not installed") from None
    except ImportError as exc:
        raise SourceImportError(f"cannot import {what} {target!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        found = getattr(module, "__file__", None) or module_name
        raise SourceImportError(f"cannot import {what} {target!r}: {found} defines no {attr!r}") from None


def space_fingerprint(space: Any) -> str:
    """A hash of a model space's decisions (labels and values): equal spaces, equal fingerprints."""
    search = space.search_space()
    return fingerprint({label: [canonical_json({"v": v}) for v in d.values] for label, d in search.items()})


@dataclass(frozen=True)
class RunSource:
    """The file an experiment was started from.

    Attributes:
        kind: ``"python"`` (a file defining ``experiment = Experiment(...)``) or ``"config"``.
        path: the file's path, as given.
        sha256: its digest when the run started.
        module: the module name a Python file was imported under ("" for a config).
        paths: folders put on ``sys.path`` to import the user's modules (the file's folder and the
            working directory); workers add them before they unpickle the space and evaluator.
    """

    kind: SourceKind
    path: str
    sha256: str
    module: str = ""
    paths: tuple[str, ...] = ()

    @classmethod
    def python_file(cls, path: str | Path, module: str, paths: Sequence[str] = ()) -> RunSource:
        """A Python experiment file imported as ``module``."""
        return cls("python", str(path), file_digest(path), module, tuple(paths))

    @classmethod
    def config_file(cls, path: str | Path, paths: Sequence[str] = ()) -> RunSource:
        """A YAML/TOML experiment config."""
        return cls("config", str(path), file_digest(path), "", tuple(paths))

    @property
    def needs_import(self) -> bool:
        """Whether a worker must import the file to unpickle the space and evaluator."""
        return self.kind == "python" and bool(self.module)

    def changed(self) -> bool | None:
        """Whether the file differs from when the run started (None: it no longer exists)."""
        file = Path(self.path)
        if not file.is_file():
            return None
        return bool(self.sha256) and file_digest(file) != self.sha256

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the experiment's config."""
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256, "module": self.module,
                "paths": list(self.paths)}

    @classmethod
    def from_json(cls, data: Any) -> RunSource | None:
        """The record from a stored config value; None when there is none (an experiment started
        from Python code) or it is not a readable record. Records from before ``paths`` read as none."""
        if not isinstance(data, dict) or not isinstance(data.get("path"), str) or not data["path"]:
            return None
        kind = data.get("kind")
        paths = data.get("paths")
        return cls("python" if kind == "python" else "config", data["path"], str(data.get("sha256") or ""),
                   str(data.get("module") or ""),
                   tuple(p for p in paths if isinstance(p, str)) if isinstance(paths, list) else ())


@dataclass(frozen=True)
class SpaceRef:
    """Where a model space's class lives and the JSON constructor arguments it was built with.

    Recorded in every experiment's config, so a run started from a Python script (``python
    hw_search.py``), which leaves no file to import again, can still rebuild its space for
    ``archspace export --onnx``.

    Attributes:
        module: the class's module (``"__main__"`` for a class defined in the script that ran).
        name: its qualified name.
        file: the module's file, when it has one.
        paths: folders to put on ``sys.path`` to import ``module`` (its top folder and the
            working directory when the run started).
        args: the constructor arguments as ``{"args": [...], "kwargs": {...}}``; None when they
            are not JSON (then ``--space-args`` must give them).
    """

    module: str
    name: str
    file: str = ""
    paths: tuple[str, ...] = ()
    args: dict[str, Any] | None = None

    @classmethod
    def of(cls, space: Any) -> SpaceRef:
        """The reference of a built space."""
        kind = type(space)
        module_file = getattr(sys.modules.get(kind.__module__), "__file__", None)
        file = str(Path(module_file).resolve()) if isinstance(module_file, str) else ""
        paths = []
        if file:
            top = Path(file).parents[kind.__module__.count(".") + (Path(file).name == "__init__.py")]
            paths.append(str(top))
        paths.extend(p for p in import_folders() if p not in paths)
        init = space.__dict__.get("_asp_init_args", ((), {}))
        record: dict[str, Any] | None = {"args": list(init[0]), "kwargs": dict(init[1])}
        try:
            if json.loads(json.dumps(record)) != record:
                record = None
        except (TypeError, ValueError):
            record = None
        return cls(kind.__module__, kind.__qualname__, file, tuple(paths), record)

    @property
    def target(self) -> str:
        """``module:Class``, as ``--space`` takes it."""
        return f"{self.module}:{self.name}"

    def build(self) -> Any:
        """Import the class and build the space with the recorded arguments.

        Raises:
            SourceImportError: the class was defined in the script that ran (importing it would run
                the script again), cannot be imported, or its arguments were not recorded.
        """
        if self.module == "__main__":
            script = Path(self.file).stem if self.file else "script"
            raise SourceImportError(f"the space {self.name} was defined in the script that ran the experiment "
                                    f"({self.file or 'unknown file'}); importing it would run the script again: "
                                    f"pass --space {script}:{self.name} if the script runs its experiment only "
                                    f"under `if __name__ == '__main__':`, or move the class into a module")
        if self.args is None:
            raise SourceImportError(f"the space {self.target} was built with arguments that are not JSON: "
                                    f"give them with --space {self.target} --space-args '{{...}}'")
        cls = import_object(self.target, self.paths)
        return cls(*self.args["args"], **self.args["kwargs"])

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the experiment's config."""
        return {"module": self.module, "name": self.name, "file": self.file, "paths": list(self.paths),
                "args": self.args}

    @classmethod
    def from_json(cls, data: Any) -> SpaceRef | None:
        """The record from a stored config value; None when there is none (experiments from before it)."""
        if not isinstance(data, dict) or not isinstance(data.get("module"), str) or not isinstance(data.get("name"), str):
            return None
        args = data.get("args")
        ok = isinstance(args, dict) and isinstance(args.get("args"), list) and isinstance(args.get("kwargs"), dict)
        paths = data.get("paths")
        return cls(data["module"], data["name"], str(data.get("file") or ""),
                   tuple(p for p in paths if isinstance(p, str)) if isinstance(paths, list) else (),
                   args if ok else None)


__all__ = ["RunSource", "SourceImportError", "SourceKind", "SpaceRef", "add_import_paths", "file_digest",
           "import_folders", "import_object", "space_fingerprint"]
