"""``archspace latency measure | show | predict``: latency tables from the command line.

``measure`` builds a space (a hub name such as ``nasbench201``, or ``module:Class``, imported from
the working directory first), times it on this machine and writes the table; ``show`` prints a
table's settings and its slowest units; ``predict`` prints the predicted milliseconds of sample files.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from archspace.errors import ArchspaceError
from archspace.experiment.source import SourceImportError, import_folders, import_object
from archspace.hardware.latency import LatencyTable
from archspace.hardware.profile import profile
from archspace.nn.space import ModelSpace
from archspace.space.samples import load_sample


class LatencyCommandError(ArchspaceError, ValueError):
    """A bad argument of ``archspace latency``."""


def build_space(name: str, space_args: str | None) -> ModelSpace:
    """A hub space by name, or ``module:Class``, built with the JSON keyword arguments ``space_args``."""
    try:
        kwargs = json.loads(space_args) if space_args else {}
    except ValueError as exc:
        raise LatencyCommandError(f"--space-args must be a JSON object, e.g. '{{\"channels\": 8}}': {exc}") from None
    if not isinstance(kwargs, dict):
        raise LatencyCommandError(f"--space-args must be a JSON object, got {space_args!r}")
    if ":" in name:
        try:  # the working directory first, so myspace.py there imports as myspace
            cls = import_object(name, import_folders())
        except SourceImportError as exc:
            raise LatencyCommandError(str(exc)) from None
        space = cls(**kwargs)
    else:
        from archspace.hub import create_space

        space = create_space(name, **kwargs)
    if not isinstance(space, ModelSpace):
        raise LatencyCommandError(f"{name!r} built a {type(space).__name__}, not a ModelSpace")
    return space


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,3,32,32"`` -> ``(1, 3, 32, 32)``."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input shape must be comma-separated ints, e.g. 1,3,32,32; got {text!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(f"input shape must be positive ints, got {text!r}")
    return shape


def cmd_measure(args: argparse.Namespace) -> int:
    space = build_space(args.space, args.space_args)
    table = LatencyTable.measure(space, args.input_shape, device=args.device, backend=args.backend,
                                 threads=args.threads, repeats=args.repeats, warmup=args.warmup,
                                 dtype=getattr(torch, args.dtype), quantile=args.quantile)
    if args.calibrate:
        fit = table.calibrate(space, args.calibrate)
        print(f"calibration: {_describe(fit)}")
    path = table.save(args.output)
    m = table.meta
    print(f"wrote {path}: {m['units']} units ({m['timed_modules']} distinct modules timed), fixed part "
          f"{table.fixed_ms:.3f} ms, {m['backend']} on {m['device_name']}, {m['threads']} thread(s)")
    return 0


def _describe(fit: dict[str, Any]) -> str:
    text = f"ms = {fit['slope']:.4f} * predicted + {fit['intercept']:.4f}"
    kinds = fit.get("per_kind") or {}
    if kinds:
        text += " + per kind: " + ", ".join(f"{kind} {c:+.3f}" for kind, c in sorted(kinds.items()))
    return text + f" ({fit['n']} networks)"


def cmd_show(args: argparse.Namespace) -> int:
    table = LatencyTable.load(args.table)
    m = table.meta
    print(f"space: {m['space']['class']} {m['space']['args']}")
    print(f"device: {m['device_name']} ({m['device']}), backend {m['backend']}, {m['threads']} thread(s), "
          f"dtype {m['dtype']}, input {m['input_shape']}, versions {m['versions']}")
    print(f"fixed part: {table.fixed_ms:.4f} ms; always paid: {table.always_ms():.4f} ms")
    if table.calibration:
        print(f"calibration: {_describe(table.calibration)}")
    if table.liveness is not None:
        print("dead code: modelled (the backend drops computation nobody reads)")
    units = table.named_entries()
    print(f"slowest units (of {len(units)}), each named by where it sits and the decision values it is timed at:")
    for name, ms in sorted(units, key=lambda item: -item[1])[: args.top]:
        print(f"  {ms:9.4f} ms  {name}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    space = build_space(args.space, args.space_args) if args.space else None
    table = LatencyTable.load(args.table, space=space)
    for path in args.samples:
        sample = load_sample(path)
        ms = table.predict(sample, calibrated=not args.uncalibrated)
        line: dict[str, Any] = {"sample": path, "latency_ms": round(ms, 4)}
        if space is not None:
            line.update(profile(space, sample, input_shape=table.meta["input_shape"]).to_dict())
        print(json.dumps(line))
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``latency`` and its subcommands to the ``archspace`` parser's subparsers."""
    p = subparsers.add_parser("latency", help="measure latency lookup tables on this machine and predict with them")
    sub = p.add_subparsers(dest="latency_command", required=True)
    m = sub.add_parser("measure", help="time every unit of a space on this machine and write the table (JSON)")
    m.add_argument("space", help="a hub space name (e.g. nasbench201, darts) or module:Class")
    m.add_argument("--space-args", help="JSON keyword arguments of the space, e.g. '{\"channels\": 8}'")
    m.add_argument("--input-shape", type=parse_shape, help="batch first, e.g. 1,3,32,32 (default: the space's example)")
    m.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    m.add_argument("--device", default="cpu")
    m.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "float64"], default="float32")
    m.add_argument("--threads", type=int, default=1)
    m.add_argument("--repeats", type=int, default=20)
    m.add_argument("--warmup", type=int, default=5)
    m.add_argument("--quantile", type=float, default=0.5,
                   help="the figure kept from the repeats: 0.5 the median, 0.25 the first quartile (steadier on a "
                        "shared machine), 0 the fastest call")
    m.add_argument("--calibrate", type=int, default=0, metavar="N",
                   help="also time N random whole networks and fit the correction (per unit kind from "
                        "2 x (kinds + 2) networks on, else a line)")
    m.add_argument("-o", "--output", required=True, help="the table file to write")
    m.set_defaults(func=cmd_measure)
    s = sub.add_parser("show", help="print a table's settings and its slowest units")
    s.add_argument("table")
    s.add_argument("--top", type=int, default=10)
    s.set_defaults(func=cmd_show)
    r = sub.add_parser("predict", help="predicted milliseconds of sample files (JSON lines)")
    r.add_argument("table")
    r.add_argument("samples", nargs="+", help="sample JSON files")
    r.add_argument("--space", help="check the table against this space (and print its profile too)")
    r.add_argument("--space-args")
    r.add_argument("--uncalibrated", action="store_true", help="ignore the table's calibration")
    r.set_defaults(func=cmd_predict)


__all__ = ["add_parser", "build_space", "parse_shape"]
