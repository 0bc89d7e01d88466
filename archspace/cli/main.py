"""The ``archspace`` command: run, resume, list, export and check experiments.

``run`` and ``resume`` drive an experiment (one driver per directory: a second one is refused
with the holder's pid). ``trials``, ``export`` and ``doctor`` only read: they open the database
read-only, take no lock, and work while a run is going on or on a read-only copy; ``export
--onnx`` also imports the file the experiment was started from, to rebuild its space.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archspace.cli.latency import add_parser as add_latency_parser
from archspace.cli.trials import ERROR_WIDTH, FULL_LINE, format_trials, objective_names
from archspace.cli.view import add_parser as add_view_parser
from archspace.errors import ArchspaceError
from archspace.experiment import Experiment, RunSource, Terminated, rank, write_export
from archspace.storage import EXPERIMENT_DB, SQLiteStorage, TrialRecord, TrialStatus, experiment_db, open_storage


def _open(directory: str) -> SQLiteStorage:
    db = experiment_db(directory)
    if not db.is_file():
        raise ArchspaceError(f"{directory!r} holds no experiment (no {EXPERIMENT_DB})")
    return open_storage(directory, read_only=True)


def _warn_bad_rows(storage: SQLiteStorage) -> None:
    if storage.bad_rows:
        listed = "; ".join(f"trial {b.id}: {b.reason}" for b in storage.bad_rows[:10])
        more = f" (and {len(storage.bad_rows) - 10} more)" if len(storage.bad_rows) > 10 else ""
        print(f"archspace: warning: {len(storage.bad_rows)} stored trial(s) cannot be read and are left out: "
              f"{listed}{more}", file=sys.stderr)


def _finish(experiment: Experiment, trials: list[TrialRecord]) -> int:
    """Print the run's summary; the exit status: 1 when every trial failed (nothing was learnt), else 0."""
    best = experiment.best(1)
    ok = sum(t.status is TrialStatus.SUCCEEDED for t in trials)
    pruned = sum(t.status is TrialStatus.PRUNED for t in trials)
    print(f"{len(trials)} trials, {ok} succeeded" + (f", {pruned} pruned early" if pruned else ""))
    if best:
        print(f"best: trial {best[0].id}, metric {best[0].metric:.4f}, sample {json.dumps(best[0].sample)}")
        if experiment.directory is not None:
            path = experiment.export(experiment.directory / "best.json", k=5)
            print(f"exported to {path}")
    failed = [t for t in trials if t.status in (TrialStatus.FAILED, TrialStatus.TIMEOUT)]
    if not trials or len(failed) < len(trials):
        return 0
    first = ((failed[0].error or "").strip().splitlines() or [failed[0].status.value])[0][:FULL_LINE]
    listing = ("" if experiment.directory is None else
               f"; `archspace trials {shlex.quote(str(experiment.directory))} --status failed` lists them")
    print(f"archspace: error: every trial failed (trial {failed[0].id}: {first}){listing}", file=sys.stderr)
    return 1


def _drive(experiment: Experiment, resume: bool) -> int:
    """Run or resume ``experiment``; after Ctrl-C or SIGTERM, say how to continue it, by its real directory."""
    try:
        trials = experiment.resume() if resume else experiment.run()
    except KeyboardInterrupt as exc:
        why, code = ("stopped by SIGTERM", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        hint = ("the experiment kept no directory, so there is nothing to resume" if experiment.directory is None
                else f"continue with `archspace resume {shlex.quote(str(experiment.directory))}`")
        print(f"\n{why}: running trials were marked interrupted; {hint}", file=sys.stderr)
        return code
    return _finish(experiment, trials)


def cmd_run(args: argparse.Namespace) -> int:
    from archspace.cli.config import load_experiment

    experiment = load_experiment(args.file)
    if args.directory:
        experiment.directory = Path(args.directory)
    return _drive(experiment, resume=False)


def _recorded_source(directory: str, config: dict[str, Any], *, trust_source: bool, doing: str,
                     from_python: str) -> Path:
    """The file an experiment was started from, checked to exist and to be unchanged (unless trusted).

    ``doing`` says what importing it is for (in the changed-file message), ``from_python`` what to
    do instead for an experiment started from Python code.
    """
    source = RunSource.from_json(config.get("source"))
    if source is None:
        raise ArchspaceError(f"{directory!r} was started from Python code, not from a file: {from_python}")
    path = Path(source.path)
    if not path.is_file():
        raise ArchspaceError(f"{directory!r} was started from {str(path)!r}, which no longer exists; "
                             f"restore it, or {from_python}")
    # Rebuilding the experiment imports (runs) that file: refuse one that changed since the run began.
    if not trust_source and source.changed():
        raise ArchspaceError(f"{str(path)!r} changed since {directory!r} was started (its SHA-256 differs), "
                             f"and {doing} would run the changed file; pass --trust-source if you mean it")
    return path


def cmd_resume(args: argparse.Namespace) -> int:
    from archspace.cli.config import load_experiment

    storage = _open(args.directory)
    config = storage.get_config() or {}
    storage.close()
    path = _recorded_source(args.directory, config, trust_source=args.trust_source, doing="resuming",
                            from_python="resume it from Python with experiment.resume()")
    experiment = load_experiment(path)
    experiment.directory = Path(args.directory)
    return _drive(experiment, resume=True)


def cmd_trials(args: argparse.Namespace) -> int:
    storage = _open(args.directory)
    trials = storage.trials(args.status)
    errors_wanted = args.status in (TrialStatus.FAILED.value, TrialStatus.TIMEOUT.value)
    print(format_trials(trials, objective_names(storage.get_config() or {}),
                        error_width=FULL_LINE if errors_wanted else ERROR_WIDTH, full_errors=args.verbose))
    _warn_bad_rows(storage)
    storage.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.onnx is None and (args.input_shape is not None or args.opset != 17 or args.space or args.space_args):
        raise ArchspaceError("--opset and --input-shape apply to an ONNX export: add --onnx [PATH] "
                             "(so do --space and --space-args)")
    storage = _open(args.directory)
    config = storage.get_config() or {}
    direction = config.get("direction", "maximize")
    done = rank(storage.trials(TrialStatus.SUCCEEDED), direction)
    _warn_bad_rows(storage)
    storage.close()
    if not done:
        raise ArchspaceError(f"{args.directory!r} has no succeeded trial to export")
    out = Path(args.output) if args.output else Path(args.directory) / "best.json"
    try:
        write_export(out, done[: args.top], direction)
    except OSError as exc:
        raise ArchspaceError(f"cannot write the export to {str(out)!r}: {exc.strerror or exc}") from None
    print(f"exported the top {min(args.top, len(done))} trial(s) to {out}")
    if args.onnx is not None:
        _export_onnx(args, config, done[0])
    return 0


#: The largest example input ``--input-shape`` may ask for (values): 1 GiB of float32.
MAX_INPUT_ELEMENTS = 2**28


def _input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(n < 1 for n in shape):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive sizes such as 1,3,32,32, got {text!r}")
    elements = math.prod(shape)
    if elements > MAX_INPUT_ELEMENTS:
        raise argparse.ArgumentTypeError(f"input shape {text} holds {elements:,} values; an example input may hold at "
                                         f"most {MAX_INPUT_ELEMENTS:,} (1 GiB of float32)")
    return shape


def _export_space(args: argparse.Namespace, config: dict[str, Any]) -> Any:
    """The experiment's space, rebuilt for export: from ``--space`` when given, else from the file
    the experiment was started from, else from the class and arguments its config recorded (an
    experiment started from a Python script); checked to have the decisions that were searched."""
    from archspace.cli.config import load_experiment
    from archspace.cli.latency import build_space
    from archspace.experiment.source import SourceImportError, SpaceRef, space_fingerprint

    source, ref = RunSource.from_json(config.get("source")), SpaceRef.from_json(config.get("space_ref"))
    if args.space is not None:
        space: Any = build_space(args.space, args.space_args)
        where = f"--space {args.space}"
    elif ref is None or (source is not None and Path(source.path).is_file()):  # the file, as before
        hint = ("give the space with --space module:Class [--space-args JSON], or export from Python with "
                "archspace.hardware.export_onnx(space, path, example_input, sample=...)")
        path = _recorded_source(args.directory, config, trust_source=args.trust_source,
                                doing="rebuilding its space", from_python=hint)
        space = load_experiment(path).space
        where = repr(str(path))
        name = f"{type(space).__module__}.{type(space).__qualname__}"
        if config.get("space") and config["space"] != name:
            raise ArchspaceError(f"{where} now builds the space {name}, but {args.directory!r} searched "
                                 f"{config['space']}; restore the file the experiment was started from")
    else:  # started from a Python script (or its file is gone): the recorded class and arguments
        try:
            space = ref.build()
        except SourceImportError as exc:
            raise ArchspaceError(f"cannot rebuild the space of {args.directory!r}: {exc}") from None
        where = f"the recorded space {ref.target}"
    if config.get("space_fingerprint") and space_fingerprint(space) != config["space_fingerprint"]:
        raise ArchspaceError(f"{where} builds a space whose decisions differ from those {args.directory!r} "
                             f"searched ({config.get('space')}); give the same class and arguments")
    return space


def _export_onnx(args: argparse.Namespace, config: dict[str, Any], best: TrialRecord) -> None:
    """Rebuild the experiment's space and write the best sample to ONNX, with the trained weights the
    trial kept (``keep_weights``), or else the weights it started from (seeded by its id, as the
    runner seeds them) and a warning that they are untrained."""
    import torch

    from archspace.experiment.runner import trial_weights_file
    from archspace.hardware.onnx import export_onnx, file_opset

    space = _export_space(args, config)
    if args.input_shape is not None:
        try:
            example = torch.randn(*args.input_shape)
        except (RuntimeError, MemoryError) as exc:
            raise ArchspaceError(f"cannot make an example input of shape {args.input_shape}: "
                                 f"{(str(exc).splitlines() or [type(exc).__name__])[0][:200]}") from None
    elif callable(getattr(space, "example_input", None)):
        example = space.example_input()
    else:
        raise ArchspaceError(f"{type(space).__name__} has no example_input(): give the input shape, "
                             "e.g. --input-shape 1,3,32,32")
    torch.manual_seed(best.id)
    model = space.freeze(best.sample)
    state = trial_weights_file(args.directory, best.id)
    if state is not None and state.is_file():
        try:
            model.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
        except Exception as exc:
            raise ArchspaceError(f"cannot load the trained weights {str(state)!r} into the model of trial "
                                 f"{best.id}: {str(exc)[:300]}") from None
        origin = f"trained weights from {state}"
    else:
        origin = f"initial weights of trial {best.id}, untrained"
        print(f"archspace: warning: trial {best.id} kept no trained weights ({state} does not exist), so the ONNX "
              f"model holds the weights it started from: retrain it before deploying, or run the experiment with "
              f"keep_weights='best' (Python) / `experiment: {{keep_weights: best}}` (config)", file=sys.stderr)
    out = Path(args.onnx) if args.onnx else Path(args.directory) / "best.onnx"
    written = export_onnx(model, out, example, opset=args.opset)
    print(f"exported trial {best.id} to ONNX (opset {file_opset(written)}, {origin}): {written}")


def cmd_doctor(args: argparse.Namespace) -> int:
    from archspace.experiment.doctor import check_experiment

    report = check_experiment(args.directory)
    print(report.format())
    return 0 if report.healthy else 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="archspace", description="Neural architecture search for PyTorch.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every trial to the console")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the experiment a .py file (module-level `experiment`) or YAML/TOML config defines")
    p.add_argument("file")
    p.add_argument("--directory", help="override the experiment directory")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("resume", help="continue a stopped or crashed experiment (imports the file it was started from)")
    p.add_argument("directory")
    p.add_argument("--trust-source", action="store_true",
                   help="resume even though the experiment's file changed since the run started")
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("trials", help="list an experiment's trials (read-only)")
    p.add_argument("directory")
    p.add_argument("--status", choices=[s.value for s in TrialStatus])
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="print each trial's error in full under its row")
    p.set_defaults(func=cmd_trials)
    p = sub.add_parser("export", help="write the best samples as JSON (loadable by fixed_arch)")
    p.add_argument("directory")
    p.add_argument("--top", type=_positive_int, default=1)
    p.add_argument("--output", "-o")
    p.add_argument("--onnx", nargs="?", const="", metavar="PATH",
                   help="also write the best trial as an ONNX model (default path DIR/best.onnx) with the trained "
                        "weights it kept (keep_weights); rebuilds the space from the file the experiment was "
                        "started from, or the class its config recorded")
    p.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset version (default 17)")
    p.add_argument("--input-shape", type=_input_shape, metavar="N,C,H,W",
                   help="the example input's shape, e.g. 1,3,32,32 (default: the space's example_input())")
    p.add_argument("--trust-source", action="store_true",
                   help="rebuild the space even though the experiment's file changed since the run started")
    p.add_argument("--space", metavar="MODULE:CLASS",
                   help="rebuild the space from this class (imported from the working directory first) instead "
                        "of the experiment's file or recorded class")
    p.add_argument("--space-args", metavar="JSON", help="the --space class's keyword arguments, e.g. '{\"width\": 8}'")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("doctor", help="check an experiment's store for damage and inconsistencies (read-only)")
    p.add_argument("directory")
    p.set_defaults(func=cmd_doctor)
    add_latency_parser(sub)
    add_view_parser(sub)
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
    except Terminated:  # outside a run (a run says how to resume itself: see _drive)
        print("\nstopped by SIGTERM", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except ArchspaceError as exc:
        print(f"archspace: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
