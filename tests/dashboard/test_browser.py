"""The dashboard and the report in a real headless Chromium: a 50-trial experiment run for real,
the table, sorting, filtering, plots, live refresh while a driver finishes a trial, several runs
compared, hostile texts shown as text, and the report opened from disk with the network blocked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archspace.dashboard import build_report
from archspace.storage import SQLiteStorage
from tests.dashboard import stores
from tests.dashboard.helpers import DRIVER, experiment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exp50(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 50-trial run (inline executor, evaluator with intermediate reports)."""
    directory = tmp_path_factory.mktemp("runs") / "a_random"
    assert len(experiment(directory, 50).run()) == 50
    return directory


class Page:
    """A browser page that records console errors, uncaught exceptions and requests it was refused."""

    def __init__(self, browser: Any, *, offline: bool = False) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.blocked: list[str] = []
        if offline:  # prove the report needs no network: anything but the file itself is refused
            def route(r: Any) -> None:
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    self.blocked.append(r.request.url)
                    r.abort()

            self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str) -> Any:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-loaded]", timeout=30_000)
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    opened: list[Page] = []

    def make(**kwargs: Any) -> Page:
        opened.append(Page(browser, **kwargs))
        return opened[-1]

    yield make
    for p in opened:
        p.close()


def _ids(page: Any) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all("#trials-body tr", "rows => rows.map(r => r.dataset.id)")]


def drawn(page: Any, plot: str, what: str = ".scatterlayer .point") -> int:
    """How many of ``what`` Plotly drew in the panel ``plot`` (SVG elements on the page, so a trace
    that is in the data but invisible, such as a one-point curve drawn as a line, counts 0)."""
    return int(page.evaluate(f"document.querySelectorAll('#{plot} {what}').length"))


def check_views(page: Any, directory: Path, shots: Path, prefix: str) -> None:
    """What both the dashboard and the report must show for the 50-trial run."""
    storage = SQLiteStorage(directory / "experiment.db", read_only=True)
    trials = storage.trials()
    storage.close()
    page.screenshot(path=str(shots / f"{prefix}-overview.png"), full_page=True)
    assert _ids(page) == list(range(50))
    assert page.inner_text('[data-card="Trials"]') == "50"
    best = max(trials, key=lambda t: t.metric or 0.0)
    assert f"(trial {best.id})" in page.inner_text('[data-card="Best (max)"]')
    # sorting by metric (best first for a maximised metric), then back the other way
    page.click('th[data-col="metric"]')
    by_metric = _ids(page)
    assert by_metric != list(range(50)) and by_metric[0] == best.id
    assert sorted(by_metric) == list(range(50))
    page.click('th[data-col="metric"]')
    assert _ids(page) == by_metric[::-1] or _ids(page)[-1] == best.id
    # the metric plot holds one point per succeeded trial, and a best-so-far line ending at the best
    points = page.evaluate("document.getElementById('plot-metric').data[0].x.length")
    assert points == 50
    assert page.evaluate("document.getElementById('plot-metric').data[1].y.slice(-1)[0]") == pytest.approx(best.metric)
    assert page.evaluate("document.getElementById('plot-curves').data.length") == 50
    assert page.evaluate("document.getElementById('plot-parcoords').data[0].dimensions.length") == 4
    # what is drawn: a marker per trial, per reported step, per trial in the box plot; ribbons in parcats
    assert drawn(page, "plot-metric") == 50
    assert drawn(page, "plot-curves") == 150
    assert drawn(page, "plot-marginal", ".boxlayer .point") == 50
    assert drawn(page, "plot-parcoords", ".parcats .dimension") == 4 and drawn(page, "plot-parcoords", "path.path") > 0
    # a filter on one decision's value narrows the table to exactly the matching trials
    page.select_option("#filter-decision", "act")
    page.select_option("#filter-value", '"relu"')
    relu = sorted(t.id for t in trials if t.sample["act"] == "relu")
    assert 0 < len(relu) < 50 and sorted(_ids(page)) == relu
    page.select_option("#filter-status", "failed")
    assert _ids(page) == []
    page.screenshot(path=str(shots / f"{prefix}-filtered.png"), full_page=True)


def test_dashboard_shows_the_run(exp50: Path, serve: Any, new_page: Any, tmp_path: Path) -> None:
    served = serve(exp50)
    p = new_page()
    page = p.open(served.url)
    check_views(page, exp50, tmp_path, "dashboard")
    assert p.errors == []


def test_live_view_shows_a_trial_that_finishes_while_open(exp50: Path, serve: Any, new_page: Any,
                                                          tmp_path: Path) -> None:
    directory = tmp_path / "live"
    shutil.copytree(exp50, directory)
    served = serve(directory)
    p = new_page()
    page = p.open(served.url + "?refresh=300")
    assert len(_ids(page)) == 50 and page.query_selector('tr[data-id="50"]') is None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.run([sys.executable, "-c", DRIVER, str(directory), "51"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert driver.returncode == 0, driver.stderr
    page.wait_for_function(
        "() => { const r = document.querySelector('tr[data-id=\"50\"]');"
        " return r && r.children[1].textContent === 'succeeded'; }", timeout=30_000)
    assert page.inner_text('[data-card="Trials"]') == "51"
    assert page.evaluate("document.getElementById('plot-metric').data[0].x.length") == 51
    page.screenshot(path=str(tmp_path / "live-after.png"), full_page=True)
    assert p.errors == []


def test_report_opens_from_disk_with_no_network(exp50: Path, new_page: Any, tmp_path: Path) -> None:
    out = build_report(exp50, tmp_path / "report.html")
    p = new_page(offline=True)
    page = p.open(out.resolve().as_uri())
    check_views(page, exp50, tmp_path, "report")
    assert p.blocked == [] and p.errors == []
    assert page.inner_text("#live-state") == "report"


@pytest.mark.parametrize("kind", ["dashboard", "report"])
def test_markup_in_labels_values_and_errors_is_shown_as_text(kind: str, serve: Any, new_page: Any,
                                                              tmp_path: Path) -> None:
    directory = stores.hostile(tmp_path / "hostile")
    p = new_page(offline=kind == "report")
    if kind == "dashboard":
        page = p.open(serve(directory).url)
    else:
        page = p.open(build_report(directory, tmp_path / "report.html").resolve().as_uri())
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned === undefined")
    assert page.evaluate("document.querySelectorAll('#app script, #app img').length") == 0
    cells = page.eval_on_selector_all("#trials-body td", "tds => tds.map(td => td.textContent)")
    assert any("<script>window.__pwned = 1</script>" in c for c in cells if c.startswith("{"))  # sample, as text
    assert any(c == "Traceback\n" + stores.HOSTILE for c in cells)  # the error text, as text
    assert page.inner_text('[data-card="Strategy"]') == stores.HOSTILE
    page.screenshot(path=str(tmp_path / f"hostile-{kind}.png"), full_page=True)
    assert p.errors == []


def test_several_runs_compared_with_pareto_oneshot_and_a_broken_one(exp50: Path, serve: Any, new_page: Any,
                                                                     tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(exp50, runs / "a_random")
    stores.multi_objective(runs / "b_pareto")
    stores.oneshot(runs / "c_oneshot")
    (runs / "d_broken").mkdir()
    (runs / "d_broken" / "experiment.db").write_bytes(b"this is not a database" * 100)
    stores.asha(runs / "e_asha")
    p = new_page()
    page = p.open(serve(runs).url)
    page.wait_for_function("() => document.querySelectorAll('#compare-body tr').length === 5 && "
                           "document.getElementById('plot-compare').data", timeout=30_000)
    rows = page.eval_on_selector_all("#compare-body tr", "rs => rs.map(r => r.children[0].textContent)")
    assert rows == ["a_random", "b_pareto", "c_oneshot", "d_broken", "e_asha"]
    assert page.evaluate("document.getElementById('plot-compare').data.length") == 4
    assert "unreadable" in page.inner_text("#compare-body")

    page.click('#experiments button[data-key="1"]')
    page.wait_for_function("() => document.getElementById('plot-pareto') && document.getElementById('plot-pareto').data",
                           timeout=30_000)
    assert page.is_visible("#pareto")
    front = page.evaluate("document.getElementById('plot-pareto').data[1]")
    assert front["name"] == "Pareto front" and sorted(front["x"]) == [0.7, 0.8, 0.9, 0.95]
    page.screenshot(path=str(tmp_path / "pareto.png"), full_page=True)

    page.click('#experiments button[data-key="2"]')
    page.wait_for_function("() => document.getElementById('plot-cell') && document.getElementById('plot-cell').data",
                           timeout=30_000)
    assert page.is_visible("#oneshot")
    # a one-shot search is shown by its epochs, not by panels comparing its one stored trial with itself
    for panel in ("#metric", "#curves", "#marginals", "#parallel"):
        assert page.query_selector(panel) is None
    assert page.eval_on_selector_all("#epochs-body tr", "rs => rs.map(r => r.children[1].textContent)") == ["1.50 s"] * 4
    assert drawn(page, "plot-epochs") == 3 * 4  # train_loss, arch_loss, val_metric at each epoch
    assert page.inner_text('[data-card="Search time"]') == "6.00 s"
    assert page.eval_on_selector_all("#trials-body td:nth-child(4)", "tds => tds.map(td => td.textContent)") == ["–"]
    assert page.evaluate("document.getElementById('plot-distribution').data.length") == 5  # normal/input_2_0
    page.select_option("#dist-decision", "normal/op_2_0")
    page.wait_for_timeout(300)
    shares = page.evaluate("document.getElementById('plot-distribution').data.map(t => [t.name, t.y])")
    assert {name for name, _ in shares} == {"sep_conv_3x3", "skip_connect", "max_pool_3x3"}
    assert dict(shares)["sep_conv_3x3"] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    notes = page.evaluate("document.getElementById('plot-cell').layout.annotations.map(a => a.text)")
    assert sorted(n for n in notes if n) == sorted(v for k, v in stores.DARTS_V2.items() if k.startswith("normal/op"))
    page.screenshot(path=str(tmp_path / "oneshot.png"), full_page=True)

    page.click('#experiments button[data-key="3"]')
    page.wait_for_selector("#error")
    assert "cannot be shown" in page.inner_text("#error") and "d_broken" in page.inner_text("#error")
    page.screenshot(path=str(tmp_path / "broken.png"), full_page=True)

    # an ASHA run: 3 trials ran 3 steps, 7 were pruned after one report (one-point curves)
    page.click('#experiments button[data-key="4"]')
    page.wait_for_function("() => document.body.dataset.loaded && document.getElementById('plot-parcoords') && "
                           "document.getElementById('plot-parcoords').data", timeout=30_000)
    assert drawn(page, "plot-curves") == 3 * 3 + 7  # every trial's curve, a single report included
    assert drawn(page, "plot-curves", ".legend .traces") == 10  # a legend naming each trial
    names = page.evaluate("document.getElementById('plot-curves').data.map(t => t.name)")
    assert "trial 1 (pruned)" in names and "trial 0 (succeeded)" in names
    assert drawn(page, "plot-metric") == 10  # succeeded as dots, pruned as crosses (their last value)
    assert drawn(page, "plot-marginal", ".boxlayer .point") == 3 and drawn(page, "plot-marginal") == 7
    # parallel categories: drawn (not only a colour bar), pruned trials on a status axis of their own
    assert drawn(page, "plot-parcoords", ".parcats .dimension") == 5 and drawn(page, "plot-parcoords", "path.path") > 0
    categories = page.eval_on_selector_all("#plot-parcoords .parcats .dimension .category text.catlabel",
                                           "ts => ts.map(t => t.textContent)")
    assert "pruned (last value)" in categories and "succeeded" in categories
    assert page.query_selector("#plot-parcoords .error") is None
    page.screenshot(path=str(tmp_path / "asha.png"), full_page=True)
    assert p.errors == []
