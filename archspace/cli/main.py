"""The ``archspace`` command: run, resume, list and export experiments."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from archspace.errors import ArchspaceError
from archspace.experiment import Experiment, write_export
from archspace.storage import SQLiteStorage, TrialRecord


def _open(directory: str) -> SQLiteStorage:
    db = Path(directory) / "experiment.db"
    if not db.exists():
        raise ArchspaceError(f"{directory!r} holds no experiment (no experiment.db)")
    return SQLiteStorage(db)


def _finish(experiment: Experiment, trials: list[TrialRecord]) -> None:
    best = experiment.best(1)
    ok = sum(t.status == "succeeded" for t in trials)
    print(f"{len(trials)} trials, {ok} succeeded")
    if best:
        print(f"best: trial {best[0].id}, metric {best[0].metric:.4f}, sample {json.dumps(best[0].sample)}")
        if experiment.directory is not None:
            path = experiment.export(experiment.directory / "best.json", k=5)
            print(f"exported to {path}")


def cmd_run(args: argparse.Namespace) -> int:
    from archspace.cli.config import load_experiment

    experiment = load_experiment(args.file)
    if args.directory:
        experiment.directory = Path(args.directory)
    _finish(experiment, experiment.run())
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from archspace.cli.config import load_experiment

    storage = _open(args.directory)
    config = storage.get_config() or {}
    storage.close()
    source = config.get("source")
    if not source or not source.get("path"):
        raise ArchspaceError(
            f"{args.directory!r} was started from Python code, not from a file: call experiment.resume() there"
        )
    experiment = load_experiment(source["path"])
    experiment.directory = Path(args.directory)
    _finish(experiment, experiment.resume())
    return 0


def _format_table(trials: list[TrialRecord]) -> str:
    rows = [("id", "status", "metric", "duration", "sample")]
    for t in trials:
        metric = "-" if t.metric is None else f"{t.metric:.4f}"
        duration = "-" if t.duration is None else f"{t.duration:.2f}s"
        sample = json.dumps(t.sample, separators=(",", ":"))
        rows.append((str(t.id), t.status, metric, duration, sample if len(sample) <= 80 else sample[:77] + "..."))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows)


def cmd_trials(args: argparse.Namespace) -> int:
    storage = _open(args.directory)
    print(_format_table(storage.trials(args.status)))
    storage.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    storage = _open(args.directory)
    direction = (storage.get_config() or {}).get("direction", "maximize")
    done = [t for t in storage.trials("succeeded") if t.metric is not None]
    storage.close()
    if not done:
        raise ArchspaceError(f"{args.directory!r} has no succeeded trial to export")
    done.sort(key=lambda t: (t.metric if direction == "minimize" else -t.metric, t.id))  # type: ignore[operator]
    out = Path(args.output) if args.output else Path(args.directory) / "best.json"
    write_export(out, done[: args.top], direction)
    print(f"exported the top {min(args.top, len(done))} trial(s) to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="archspace", description="Neural architecture search for PyTorch.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every trial to the console")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the experiment a .py file (module-level `experiment`) or YAML/TOML config defines")
    p.add_argument("file")
    p.add_argument("--directory", help="override the experiment directory")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("resume", help="continue a stopped or crashed experiment")
    p.add_argument("directory")
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("trials", help="list an experiment's trials")
    p.add_argument("directory")
    p.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "timeout", "interrupted"])
    p.set_defaults(func=cmd_trials)
    p = sub.add_parser("export", help="write the best samples as JSON (loadable by fixed_arch)")
    p.add_argument("directory")
    p.add_argument("--top", type=int, default=1)
    p.add_argument("--output", "-o")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``archspace`` command."""
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # the experiment log file gets INFO; the console only what was asked
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("\ninterrupted: running trials were marked interrupted; continue with `archspace resume DIR`",
              file=sys.stderr)
        return 130
    except ArchspaceError as exc:
        print(f"archspace: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
