"""First paint of the dashboard for a 5,000-trial experiment, and the paged JSON endpoint.

Writes a store of N succeeded trials (4 decisions, a 5-step curve each) straight through
SQLiteStorage, serves it with ``archspace.dashboard`` on a loopback port, and opens it in headless
Chromium (Debian's, driven by Playwright) REPEATS times, each in a fresh browser context (no cache):

- ``first_paint_s``: from the start of navigation until the overview and the first table page
  are drawn (the page's own clock, ``performance.now()``, stamped when the first page of 200
  trials is in the table; Plotly loads meanwhile);
- ``all_views_s``: until every trial is loaded and every plot drawn (the page's clock again);
- ``wall_*_s``: the same seen from this script (``wait_for_selector`` polling included).

The endpoint: the cold read of the store (first request after a change), then warm pages of 1,000.
The server runs in this process, so its time and the browser's share this machine's cores.

    .venv/bin/python benchmarks/dashboard_paint.py [--trials 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.dashboard.server import create_server  # noqa: E402
from tests.dashboard.stores import many  # noqa: E402


def _fetch(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        size = len(r.read())
    return time.perf_counter() - start, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dashboard_paint.json"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        directory = many(Path(tmp) / "exp", args.trials)
        write_s = time.perf_counter() - start
        server, [exp] = create_server(directory, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        cold_s, _ = _fetch(url + "api/exp/0/trials?offset=0&limit=1000")
        pages = [_fetch(url + f"api/exp/0/trials?offset={o}&limit=1000") for o in range(0, args.trials, 1000)]
        summary_s, _ = _fetch(url + "api/exp/0/summary")
        paint: list[float] = []
        full: list[float] = []
        wall_paint: list[float] = []
        wall_full: list[float] = []
        chromium = shutil.which("chromium")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            for _ in range(args.repeats):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                t0 = time.perf_counter()
                page.goto(url + "?refresh=0", wait_until="commit")
                page.wait_for_selector("body[data-painted]", timeout=60_000)
                wall_paint.append(time.perf_counter() - t0)
                page.wait_for_selector("body[data-loaded]", timeout=120_000)
                wall_full.append(time.perf_counter() - t0)
                paint.append(int(page.get_attribute("body", "data-painted")) / 1000)
                full.append(int(page.get_attribute("body", "data-loaded-ms")) / 1000)
                rows = page.locator("#trials-body tr").count()
                points = page.evaluate("() => document.getElementById('plot-metric').data[0].x.length")
                assert rows == 200 and points == args.trials, (rows, points)
                context.close()
            browser.close()
        server.shutdown()
        server.server_close()
    result: dict[str, Any] = {
        "machine": platform.machine(), "python": platform.python_version(), "trials": args.trials,
        "repeats": args.repeats, "store_write_s": round(write_s, 2),
        "first_paint_s_median": round(statistics.median(paint), 3), "first_paint_s": [round(x, 3) for x in paint],
        "all_views_s_median": round(statistics.median(full), 3), "all_views_s": [round(x, 3) for x in full],
        "wall_first_paint_s_median": round(statistics.median(wall_paint), 3),
        "wall_all_views_s_median": round(statistics.median(wall_full), 3),
        "endpoint_cold_read_s": round(cold_s, 3),
        "endpoint_page_1000_s_median": round(statistics.median(t for t, _ in pages), 4),
        "endpoint_page_1000_bytes": pages[0][1], "summary_s": round(summary_s, 4),
        "table_rows_drawn": 200, "target": "first paint < 2 s",
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
