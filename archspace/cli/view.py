"""``archspace view`` (the live dashboard) and ``archspace report`` (the same views in one HTML file).

Both only read: they open every store read-only, take no lock, and work while a run writes or on
a read-only copy. A directory with no experiment, or whose store cannot be read, stops them with
a message naming the directory and what to do, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535 (0 picks a free one), got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0 (0 turns refreshing off), got {text!r}")
    return value


def _readable(directory: str) -> Any:
    """The experiments at ``directory``; refuses when none can be read, warns about the broken ones."""
    from archspace.dashboard.data import DashboardError, check_readable, open_experiments

    experiments = open_experiments(directory)
    problems = check_readable(experiments)
    if len(problems) == len(experiments):
        raise DashboardError(f"cannot show {directory!r}: " + "; ".join(problems))
    for problem in problems:
        print(f"archspace: warning: {problem} (shown as unreadable)", file=sys.stderr)
    return experiments


def cmd_view(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl-C."""
    from archspace.dashboard.assets import plotly_js
    from archspace.dashboard.server import serve

    plotly_js()  # a missing plotly is said now, not as a blank page later
    _readable(args.directory)
    try:
        serve(args.directory, host=args.host, port=args.port, refresh_ms=int(args.refresh * 1000))
    except KeyboardInterrupt:
        print("\narchspace view: stopped", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the self-contained HTML report."""
    from archspace.dashboard.report import build_report

    experiments = _readable(args.directory)
    out = Path(args.output) if args.output else Path(args.directory) / "report.html"
    written = build_report(args.directory, out)
    print(f"wrote the report of {len(experiments)} experiment(s) to {written} "
          "(self-contained: it opens from disk with no network)")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``view`` and ``report`` on the ``archspace`` command's subparsers."""
    p = sub.add_parser("view", help="serve a live dashboard of an experiment, or of a folder of them (read-only)")
    p.add_argument("directory", help="an experiment directory, or a folder whose sub-directories are experiments")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it, unauthenticated)")
    p.add_argument("--refresh", type=_seconds, default=2.0, help="seconds between live checks (default 2; 0: off)")
    p.set_defaults(func=cmd_view)
    p = sub.add_parser("report", help="write the dashboard's views as one self-contained HTML file (read-only)")
    p.add_argument("directory", help="an experiment directory, or a folder whose sub-directories are experiments")
    p.add_argument("--output", "-o", help="the HTML file to write (default DIR/report.html)")
    p.set_defaults(func=cmd_report)


__all__ = ["add_parser", "cmd_report", "cmd_view"]
