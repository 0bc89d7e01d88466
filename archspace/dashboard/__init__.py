"""See an experiment: the live dashboard (``archspace view``) and the self-contained HTML report
(``archspace report``), both reading the store read-only and drawing with Plotly's bundled script.

Example:
    >>> from archspace.dashboard import cell_graphs
    >>> cell_graphs({"edge_1_0": "nor_conv_3x3"})[0]["edges"]
    [{'source': 0, 'target': 1, 'op': 'nor_conv_3x3'}]
"""

from __future__ import annotations

from archspace.dashboard.cells import cell_graphs
from archspace.dashboard.data import DashboardError, ExperimentData, find_experiments, open_experiments
from archspace.dashboard.report import build_report
from archspace.dashboard.server import create_server, serve

__all__ = ["DashboardError", "ExperimentData", "build_report", "cell_graphs", "create_server", "find_experiments",
           "open_experiments", "serve"]
