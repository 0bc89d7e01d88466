"""The run's source: the file an experiment was defined in, as one typed record.

The command line builds experiments from a Python file or a YAML/TOML config. Workers in other
processes (the process pool, Ray) must import that Python file under the module name its classes
were pickled with; ``archspace resume`` and ``doctor`` must find the file again and see whether it
changed. All of them read this record; the store keeps it as JSON (:meth:`RunSource.to_json`,
:meth:`RunSource.from_json`), so no other module knows its fields' names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

SourceKind = Literal["python", "config"]


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file, hex (how a run notices that its source changed)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class RunSource:
    """The file an experiment was started from.

    Attributes:
        kind: ``"python"`` (a file defining ``experiment = Experiment(...)``) or ``"config"``.
        path: the file's path, as given.
        sha256: its digest when the run started.
        module: the module name a Python file was imported under ("" for a config).
    """

    kind: SourceKind
    path: str
    sha256: str
    module: str = ""

    @classmethod
    def python_file(cls, path: str | Path, module: str) -> RunSource:
        """A Python experiment file imported as ``module``."""
        return cls("python", str(path), file_digest(path), module)

    @classmethod
    def config_file(cls, path: str | Path) -> RunSource:
        """A YAML/TOML experiment config."""
        return cls("config", str(path), file_digest(path))

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

    def to_json(self) -> dict[str, str]:
        """The record as stored in the experiment's config."""
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256, "module": self.module}

    @classmethod
    def from_json(cls, data: Any) -> RunSource | None:
        """The record from a stored config value; None when there is none (an experiment started
        from Python code) or it is not a readable record."""
        if not isinstance(data, dict) or not isinstance(data.get("path"), str) or not data["path"]:
            return None
        kind = data.get("kind")
        return cls("python" if kind == "python" else "config", data["path"], str(data.get("sha256") or ""),
                   str(data.get("module") or ""))


__all__ = ["RunSource", "SourceKind", "file_digest"]
