"""``archspace report``: the dashboard's views in one self-contained HTML file.

The file holds Plotly's bundle, the app's script and style, and every payload the live server
would answer (summary, all trials, epochs, Pareto front) as an inert JSON element, so it opens
from disk with no network and no server. The same script draws both, so the report and the live
view cannot drift apart.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from archspace.dashboard.assets import page
from archspace.dashboard.data import DashboardError, check_readable, open_experiments, to_json


def build_report(root: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Write the report of the experiment(s) at ``root`` to ``output``; returns its path.

    Raises:
        DashboardError: no experiment at ``root``, every store unreadable, or ``output`` not writable.
    """
    experiments = open_experiments(root)
    problems = check_readable(experiments)
    if len(problems) == len(experiments):
        raise DashboardError("no experiment could be read: " + "; ".join(problems))
    data = {"generated": time.time(),
            "experiments": [{"key": e.key, "name": e.name, **e.everything()} for e in experiments]}
    html = page(data_json=to_json(data))
    out = Path(output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise DashboardError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from None
    return out


__all__ = ["build_report"]
