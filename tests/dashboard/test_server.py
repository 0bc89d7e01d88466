"""The dashboard's server, data layer and commands without a browser: paged JSON, no file outside
the experiment directory, broken or missing stores, loopback binding, the report's embedding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from archspace.cli import main
from archspace.dashboard import DashboardError, build_report, cell_graphs, find_experiments, open_experiments
from archspace.dashboard.data import MAX_PAGE
from archspace.hub.darts import DARTS_V2
from tests.dashboard import stores

ROOT = Path(__file__).resolve().parents[2]
SECRET = "top secret outside the experiment"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _raw(port: int, target: str) -> tuple[int, bytes]:
    """A request line sent as written (urllib would normalise the ``..``)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", target, skip_host=False, skip_accept_encoding=True)
    conn.endheaders()
    r = conn.getresponse()
    status, body = r.status, r.read()
    conn.close()
    return status, body


def test_paged_trials_summary_and_no_reads_outside_the_experiment(tmp_path: Path, serve: Any) -> None:
    runs = tmp_path / "runs"
    stores.many(runs / "a", 120)
    outside = stores.many(tmp_path / "outside", 3)  # a real experiment, but not under runs/
    (tmp_path / "secret.txt").write_text(SECRET)
    (runs / "linked").symlink_to(outside, target_is_directory=True)  # a symlink leading out of runs/
    (runs / "b").mkdir()
    (runs / "b" / "experiment.db").symlink_to(outside / "experiment.db")  # a database symlinked from outside
    assert [p.name for p in find_experiments(runs)] == ["a"]
    served = serve(runs)
    port = served.server.server_address[1]
    status, body = _get(served.url + "api/experiments")
    assert status == 200 and json.loads(body)["experiments"] == [{"key": 0, "name": "a"}]
    summary = json.loads(_get(served.url + "api/exp/0/summary")[1])
    assert summary["total"] == 120 and summary["counts"]["succeeded"] == 120
    assert summary["decisions"] == ["act", "depth", "kernel", "width"]
    pages = [json.loads(_get(served.url + f"api/exp/0/trials?offset={o}&limit=50")[1]) for o in (0, 50, 100)]
    assert [len(p["trials"]) for p in pages] == [50, 50, 20] and {p["total"] for p in pages} == {120}
    assert [t["id"] for p in pages for t in p["trials"]] == list(range(120))
    assert len(pages[0]["trials"][0]["intermediates"]) == 5
    status, body = _get(served.url + f"api/exp/0/trials?limit={MAX_PAGE + 1}")
    assert status == 400 and b"limit between 1 and" in body
    assert _get(served.url + "api/exp/0/trials?offset=x")[0] == 400
    hostile_paths = [
        "/static/../../../../etc/passwd", "/static/..%2F..%2F..%2Fetc%2Fpasswd", "/static/%2Fetc%2Fpasswd",
        "//etc/passwd", "/etc/passwd", "/api/exp/0/../../secret.txt", "/api/exp/..%2Fsecret.txt/summary",
        "/api/exp/1/summary", "/api/exp/-1/summary", f"/api/exp/{tmp_path}/secret.txt/summary",
        "/static/" + str(tmp_path / "secret.txt"), "/api/exp/0/experiment.db", "/static/app.js/../../secret.txt",
        "/static/linked", "/runs/a/experiment.db", "/experiment.db",
    ]
    for target in hostile_paths:
        status, body = _raw(port, target)
        assert status == 404, target
        assert SECRET.encode() not in body and b"root:" not in body and b"SQLite format" not in body, target
    # only the fixed static names are served, with the security headers
    with urllib.request.urlopen(served.url + "static/app.js", timeout=10) as r:
        assert r.status == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert _get(served.url + "static/plotly.min.js")[0] == 200 and _get(served.url + "static/plots.js")[0] == 200


def test_report_embeds_every_trial_inertly(tmp_path: Path) -> None:
    directory = stores.hostile(tmp_path / "exp")
    text = build_report(directory, tmp_path / "r.html").read_text()
    data_part = text.split('id="archspace-data">')[1].split("</script>")[0]
    assert "<script" not in data_part and "<img" not in data_part  # markup cannot leave the JSON element
    data = json.loads(data_part)
    assert data["experiments"][0]["summary"]["strategy"] == stores.HOSTILE
    assert [t["status"] for t in data["experiments"][0]["trials"]] == ["succeeded", "failed"]
    assert "https://" not in text.split("<script>")[0]  # nothing loaded from elsewhere by the page's head


def test_one_shot_cells_and_pareto_payloads(tmp_path: Path) -> None:
    [exp] = open_experiments(stores.oneshot(tmp_path / "o"))
    epochs = exp.epochs()
    assert [e["epoch"] for e in epochs["epochs"]] == [0, 1, 2, 3]
    assert exp.summary()["search_seconds"] == 6.0  # its epochs' time, not its one trial's (written at the end)
    assert [c["name"] for c in epochs["cells"]] == ["normal", "reduce"]
    normal = epochs["cells"][0]
    assert len(normal["edges"]) == 8 and normal["nodes"] == [0, 1, 2, 3, 4, 5]
    assert {"source": 2, "target": 5, "op": DARTS_V2["normal/op_5_1"]} in normal["edges"]
    nb201 = cell_graphs({"edge_1_0": "a", "edge_2_0": "b", "edge_2_1": "c", "other": 3})
    assert nb201 == [{"name": "cell", "nodes": [0, 1, 2], "edges": [
        {"source": 0, "target": 1, "op": "a"}, {"source": 0, "target": 2, "op": "b"},
        {"source": 1, "target": 2, "op": "c"}]}]
    [mo] = open_experiments(stores.multi_objective(tmp_path / "m"))
    pareto = mo.pareto()
    assert pareto["objectives"] == [["accuracy", "maximize"], ["latency_ms", "minimize"]]
    assert pareto["front"] == [0, 1, 2, 3] and len(pareto["points"]) == 6


def test_nan_metrics_are_valid_json(tmp_path: Path) -> None:
    directory = stores.write_store(tmp_path / "e", {"direction": "maximize"}, [
        {"sample": {"x": 1}, "metric": 1.0, "metrics": {"loss": float("nan"), "big": float("inf")}}])
    from archspace.dashboard.data import to_json

    [exp] = open_experiments(directory)
    page = json.loads(to_json(exp.trials()))  # strict: NaN would not parse in a browser
    assert page["trials"][0]["metrics"] == {"loss": "nan", "big": "inf"}


def test_missing_and_corrupt_stores_stop_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["view", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "holds no experiment" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "experiment.db").write_bytes(b"garbage" * 500)
    for command in (["view", str(broken), "--port", "0"], ["report", str(broken), "-o", str(tmp_path / "r.html")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "cannot show" in err and "not a database" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()
    with pytest.raises(DashboardError, match="not a directory"):
        find_experiments(broken / "experiment.db")


def test_view_binds_loopback_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = stores.many(tmp_path / "exp", 5)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "view", str(directory), "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line and "loopback only" in line and "--host" in line, line
        url = line.split("at ", 1)[1].split(" ", 1)[0]
        status, body = _get(url + "api/exp/0/summary")
        assert status == 200 and json.loads(body)["total"] == 5
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err
    from archspace.dashboard.server import create_server

    server, _ = create_server(directory, port=0)
    assert server.server_address[0] == "127.0.0.1"  # the default, unless --host says otherwise
    server.server_close()
    assert main(["report", str(directory)]) == 0
    assert "self-contained" in capsys.readouterr().out and (directory / "report.html").stat().st_size > 1_000_000


def _with_host(port: int, host: str) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", "/api/experiments", skip_host=True)
    conn.putheader("Host", host)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_only_loopback_host_names_are_answered(tmp_path: Path, serve: Any) -> None:
    """A page elsewhere that rebinds its own name to 127.0.0.1 sends its own Host: refused."""
    port = serve(stores.many(tmp_path / "exp", 3)).server.server_address[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}", "LOCALHOST"):
        assert _with_host(port, host) == 200, host
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "10.0.0.1"):
        assert _with_host(port, host) == 403, host
    from archspace.dashboard.server import allowed_hosts

    assert allowed_hosts("0.0.0.0") is None  # --host 0.0.0.0: the user chose to serve any name
    assert "myhost" in (allowed_hosts("myhost") or ())


def test_a_symlink_loop_is_flagged_and_the_other_experiments_shown(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    stores.many(runs / "good", 4)
    (runs / "loop").mkdir()
    (runs / "loop" / "experiment.db").symlink_to(runs / "loop" / "experiment.db")
    assert [p.name for p in find_experiments(runs)] == ["good", "loop"]
    assert main(["report", str(runs), "-o", str(tmp_path / "r.html")]) == 0
    err = capsys.readouterr().err
    assert "loop" in err and "symlink" in err and "Traceback" not in err
    assert (tmp_path / "r.html").stat().st_size > 1_000
