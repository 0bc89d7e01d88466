"""The table ``archspace trials`` prints: one row per trial, every objective, and why trials failed.

A failed trial's reason is the first thing a user needs after a run (it is otherwise only in
``experiment.log``), so the table has an error column (its first line, cut to fit); ``--status
failed`` shows that line whole, and ``-v`` prints each error in full under its row. A
multi-objective run shows one column per objective (its declared name), as the search saw them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from archspace.storage import TrialRecord, TrialStatus

#: The characters of an error's first line shown in the table (``--status failed``: FULL_LINE).
ERROR_WIDTH = 60
FULL_LINE = 300
#: The lines of one error printed under its row with ``-v`` (tracebacks can be long).
ERROR_LINES = 40
SAMPLE_WIDTH = 80


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def objective_names(config: dict[str, Any]) -> list[str]:
    """The objectives an experiment's stored config declares, in order (none: empty)."""
    declared = config.get("objectives") or []
    return [str(item[0]) for item in declared if isinstance(item, (list, tuple)) and item]


def format_trials(trials: Sequence[TrialRecord], objectives: Sequence[str] = (), *, error_width: int = ERROR_WIDTH,
                  full_errors: bool = False) -> str:
    """The table of ``trials``.

    Args:
        trials: the trials, in the order shown.
        objectives: the experiment's objectives; with two or more, each gets its own column
            (read from the trial's metrics) in place of the single metric column.
        error_width: characters of an error's first line shown in the error column.
        full_errors: print each error in full (up to :data:`ERROR_LINES` lines), indented, under its
            row (its first line again only when the column had to cut it).
    """
    columns = list(objectives) if len(objectives) > 1 else ["metric"]
    rows: list[list[str]] = [["id", "status", *columns, "duration", "sample", "error"]]
    details: dict[int, list[str]] = {}
    for t in trials:
        if len(columns) > 1:
            values = [_number(t.metrics.get(name)) for name in columns]
        else:
            values = ["-" if t.metric is None else f"{t.metric:.4f}"]
            if t.status is TrialStatus.PRUNED and t.intermediates:  # a partial metric: say at which step
                values[0] += f" @{t.intermediates[-1][0]}"
        duration = "-" if t.duration is None else f"{t.duration:.2f}s"
        sample = _cut(json.dumps(t.sample, separators=(",", ":")), SAMPLE_WIDTH)
        lines = (t.error or "").strip().splitlines()
        first = lines[0].strip() if lines else ""
        rows.append([str(t.id), t.status.value, *values, duration, sample, _cut(first, error_width) if lines else "-"])
        if full_errors and lines:  # the rest under the row; the first line again only when the column cut it
            rest = lines[1:]
            while rest and not rest[0].strip():
                rest = rest[1:]
            shown = ([first] if len(first) > error_width else []) + rest
            cut = shown[:ERROR_LINES] + ([f"... ({len(shown) - ERROR_LINES} more lines)"]
                                         if len(shown) > ERROR_LINES else [])
            if cut:
                details[len(rows) - 1] = ["    " + line for line in cut]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for index, row in enumerate(rows):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1])
        out.extend(details.get(index, []))
    return "\n".join(out)


__all__ = ["ERROR_WIDTH", "FULL_LINE", "format_trials", "objective_names"]
