"""The Fashion-201 table file: entries per architecture and seed, its protocol and a sha256.

The file is one JSON object::

    {"format": "archspace-fashion201", "version": 1, "protocol": {...}, "sha256": "...",
     "entries": {arch: {seed: {valid_acc, test_acc, valid_curve, params, flops, train_seconds}}}}

``sha256`` is the digest of the canonical JSON (sorted keys, no spaces) of ``protocol`` and
``entries``: a file edited by hand, or cut short, is refused on load. Architectures are keyed by
their isomorphism class's representative (:func:`~archspace.benchmarks.fashion201.representative`),
so any member of a class finds its entry. :meth:`Fashion201Table.as_nb201` gives the table as an
:class:`~archspace.benchmarks.NB201Table` (means over seeds) for
:class:`~archspace.benchmarks.BenchmarkEvaluator`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from torch import nn

try:  # POSIX: an advisory lock serialises writers of one table file; elsewhere the last writer wins
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from archspace.benchmarks.fashion201 import PROTOCOL, Entry, Protocol, representative, train_one
from archspace.benchmarks.nb201 import NAMED_TABLES, BenchmarkTableError, NB201Table
from archspace.evaluate.base import Evaluator, TrialContext
from archspace.hub.nasbench201 import to_arch_str

FORMAT, VERSION = "archspace-fashion201", 1
ENTRY_FIELDS = ("valid_acc", "test_acc", "valid_curve", "params", "flops", "train_seconds", "cpu_seconds")
#: The columns of :meth:`Fashion201Table.as_nb201` and which way each is better.
FASHION201_DIRECTIONS = {"fashion_valid": "maximize", "fashion_test": "maximize", "params_m": "minimize",
                         "flops_m": "minimize", "train_seconds": "minimize"}
#: Where ``load_fashion201()`` looks by default: the table shipped beside this module.
DEFAULT_PATH = Path(__file__).with_name("fashion201_table.json")
ENTRIES_FILE = "fashion201_entries.json"


def _digest(protocol: Mapping[str, Any], entries: Mapping[str, Any]) -> str:
    text = json.dumps({"protocol": protocol, "entries": entries}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _entry_dict(entry: Entry) -> dict[str, Any]:
    return {f: getattr(entry, f) for f in ENTRY_FIELDS}


class Fashion201Table(Mapping[str, dict[int, dict[str, Any]]]):
    """arch (class representative) -> seed -> entry fields, with the protocol they were trained under.

    Args:
        protocol: the protocol's settings (``Protocol.describe()``).
        entries: arch -> seed -> entry fields.
        source: where the table came from (for messages).
    """

    def __init__(self, protocol: Mapping[str, Any], entries: Mapping[str, Mapping[int, Mapping[str, Any]]] | None = None,
                 source: str = "") -> None:
        self.protocol = dict(protocol)
        self._entries: dict[str, dict[int, dict[str, Any]]] = {
            a: {int(s): dict(e) for s, e in seeds.items()} for a, seeds in (entries or {}).items()}
        self.source = source

    def __getitem__(self, arch: str) -> dict[int, dict[str, Any]]:
        return self._entries[representative(arch)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def has(self, arch: str, seed: int) -> bool:
        """Whether ``arch`` (any member of its class) is in the table with ``seed``."""
        return seed in self._entries.get(representative(arch), {})

    def add(self, entry: Entry) -> bool:
        """Add one trained entry (keyed by its class representative); False if it was there already."""
        arch = representative(entry.arch)
        if entry.seed in self._entries.get(arch, {}):
            return False
        self._entries.setdefault(arch, {})[entry.seed] = _entry_dict(entry)
        return True

    def entries_json(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The entries as they are written (seeds as strings, sorted)."""
        return {a: {str(s): self._entries[a][s] for s in sorted(self._entries[a])} for a in sorted(self._entries)}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the table (atomically: a temporary file renamed over ``path``)."""
        p = Path(path)
        entries = self.entries_json()
        data = {"format": FORMAT, "version": VERSION, "protocol": self.protocol,
                "sha256": _digest(self.protocol, entries), "entries": entries}
        tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")  # one per writer: a build and a lookup may save at once
        tmp.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
        os.replace(tmp, p)
        return p

    def as_nb201(self) -> NB201Table:
        """The table as an NB201Table: per arch the means over its seeds, for BenchmarkEvaluator."""
        rows = {}
        for arch, seeds in self._entries.items():
            es = list(seeds.values())
            rows[arch] = {"fashion_valid": statistics.mean(e["valid_acc"] for e in es),
                          "fashion_test": statistics.mean(e["test_acc"] for e in es),
                          "params_m": es[0]["params"] / 1e6, "flops_m": es[0]["flops"] / 1e6,
                          "train_seconds": statistics.mean(e["train_seconds"] for e in es)}
        return _ClassTable(rows, list(FASHION201_DIRECTIONS), self.source or "fashion201", FASHION201_DIRECTIONS,
                           search_column="fashion_valid", report_columns=("fashion_test",))


class _ClassTable(NB201Table):
    """An NB201Table whose lookups go through the isomorphism class of the sample's arch."""

    def lookup(self, sample: Mapping[str, Any]) -> dict[str, float]:
        arch = representative(to_arch_str(sample))
        if arch not in self:
            raise BenchmarkTableError(f"architecture {to_arch_str(sample)!r} (class of {arch!r}) is not in the "
                                      f"table {self.source!r}")
        return self[arch]


def load_fashion201(path: str | os.PathLike[str] | None = None, *, protocol: Protocol | None = None) -> Fashion201Table:
    """Read a Fashion-201 table file, checking its format and sha256.

    Args:
        path: the file (default :data:`DEFAULT_PATH`, the table shipped with the package).
        protocol: if given, the file's protocol settings must equal this protocol's (versions aside).

    Raises:
        BenchmarkTableError: unreadable, not a Fashion-201 table, a sha256 that does not match its
            content (tampered or truncated), or another protocol.
    """
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchmarkTableError(f"cannot read Fashion-201 table {str(p)!r}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchmarkTableError(f"Fashion-201 table {str(p)!r} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise BenchmarkTableError(f"{str(p)!r} is not a {FORMAT} table of version {VERSION}")
    proto, entries = data.get("protocol"), data.get("entries")
    if not isinstance(proto, dict) or not isinstance(entries, dict):
        raise BenchmarkTableError(f"{str(p)!r} lacks its protocol or entries")
    if data.get("sha256") != _digest(proto, entries):
        raise BenchmarkTableError(f"{str(p)!r}: the sha256 in the file does not match its content "
                                  "(edited or truncated); rebuild it or restore the original")
    if protocol is not None:
        _check_protocol(proto, protocol, str(p))
    try:
        return Fashion201Table(proto, {a: {int(s): e for s, e in seeds.items()} for a, seeds in entries.items()}, str(p))
    except (AttributeError, TypeError, ValueError) as exc:
        raise BenchmarkTableError(f"{str(p)!r}: malformed entries ({exc})") from None


NAMED_TABLES["fashion201"] = lambda: load_fashion201().as_nb201()


def _check_protocol(found: Mapping[str, Any], protocol: Protocol, source: str) -> None:
    wanted = {k: v for k, v in protocol.describe().items() if k != "versions"}
    have = {k: v for k, v in found.items() if k != "versions"}
    if have != wanted:
        diff = sorted(k for k in set(have) | set(wanted) if have.get(k) != wanted.get(k))
        raise BenchmarkTableError(f"{source}: trained under another protocol (differs in {diff})")


def open_or_create(path: str | os.PathLike[str], protocol: Protocol = PROTOCOL) -> Fashion201Table:
    """The table at ``path`` (its protocol must be ``protocol``), or a new empty one."""
    if Path(path).exists():
        return load_fashion201(path, protocol=protocol)
    return Fashion201Table(protocol.describe(), source=str(path))


@contextlib.contextmanager
def _locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (POSIX ``flock``; blocks until it is free)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(f"{os.fspath(path)}.lock", "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_to_table(path: str | os.PathLike[str], entries: Iterable[Entry] = (), protocol: Protocol = PROTOCOL, *,
                 trial_dir: str | os.PathLike[str] | None = None) -> tuple[Fashion201Table, int]:
    """Add ``entries`` (and those trials under ``trial_dir`` wrote) to the table file at ``path``;
    return the table as saved and how many entries were new.

    Reading, adding and saving happen under a lock on the file, so a build and any number of
    ``lookup_or_train`` calls in other processes may add to one table at once without one
    writer's save dropping another's entries (a plain read-add-save would: the later save is of a
    table read before the earlier one was written)."""
    with _locked(path):
        table = open_or_create(path, protocol)
        added = sum(table.add(e) for e in entries)
        if trial_dir is not None and Path(trial_dir).exists():
            added += merge_trial_entries(table, trial_dir)
        if added or not Path(path).exists():
            table.save(path)
    return table, added


def lookup_or_train(sample: Mapping[str, Any] | str, table_path: str | os.PathLike[str], *, seed: int = 0,
                    protocol: Protocol = PROTOCOL, root: str | None = None) -> dict[str, Any]:
    """The entry of ``sample`` (a NasBench201 sample or arch string) with ``seed``: from the table
    at ``table_path``, or trained now under ``protocol`` and added to the file (under its lock:
    entries other processes add meanwhile are kept)."""
    arch = sample if isinstance(sample, str) else to_arch_str(sample)
    table = open_or_create(table_path, protocol)
    if not table.has(arch, seed):
        entry = train_one(representative(arch), seed, protocol=protocol, root=root)
        table, _ = add_to_table(table_path, [entry], protocol)
    return table[arch][seed]


class Fashion201Evaluator(Evaluator):
    """Trains a trial's architecture under a protocol with each of ``seeds`` (an Experiment evaluator).

    Writes the entries to ``<trial folder>/fashion201_entries.json`` (merged into a table by
    :func:`merge_trial_entries`) and returns the mean valid accuracy as the metric, with the mean
    test accuracy, params and seconds beside it. Needs no model from the space: it builds its own.

    Args:
        seeds: the seeds to train each architecture with.
        protocol: the training protocol.
        root: the Fashion-MNIST folder (default: the reader's).
        skip: arch -> seeds already in the table (not trained again).
    """

    needs_model = False
    direction = "maximize"

    def __init__(self, seeds: tuple[int, ...] = (0,), protocol: Protocol = PROTOCOL, root: str | None = None,
                 skip: Mapping[str, tuple[int, ...]] | None = None) -> None:
        self.seeds = tuple(seeds)
        self.protocol = protocol
        self.root = root
        self.skip = dict(skip or {})

    def evaluate(self, model: nn.Module | None, ctx: TrialContext) -> dict[str, float]:
        arch = representative(to_arch_str(ctx.sample))
        done = self.skip.get(arch, ())
        entries = [train_one(arch, s, protocol=self.protocol, root=self.root) for s in self.seeds if s not in done]
        out = ctx.output_dir
        if out is not None:
            (out / ENTRIES_FILE).write_text(json.dumps([e.to_dict() for e in entries]) + "\n", encoding="utf-8")
        if not entries:
            return {"default": float("nan")}
        return {"default": statistics.mean(e.valid_acc for e in entries),
                "test_acc": statistics.mean(e.test_acc for e in entries),
                "params": float(entries[0].params), "train_seconds": sum(e.train_seconds for e in entries)}


def merge_trial_entries(table: Fashion201Table, directory: str | os.PathLike[str]) -> int:
    """Add every entry that trials under ``directory`` wrote (any depth); how many were new."""
    added = 0
    for path in sorted(Path(directory).rglob(ENTRIES_FILE)):
        for item in json.loads(path.read_text(encoding="utf-8")):
            added += table.add(Entry(**item))
    return added


__all__ = ["DEFAULT_PATH", "FASHION201_DIRECTIONS", "Fashion201Evaluator", "Fashion201Table", "add_to_table",
           "load_fashion201", "lookup_or_train", "merge_trial_entries", "open_or_create"]
