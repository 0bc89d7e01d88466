"""Errors a user can see (issue 24, item 2): failed trials as they happen, from Python as from the
command; the progress bar from Python on a terminal; ``archspace trials`` with errors and every
objective; Ctrl-C naming the directory to resume. Run as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archspace.cli import main

ROOT = Path(__file__).resolve().parents[2]

#: An experiment in which odd x fail with a two-line reason; two objectives from the evaluator's dict.
EXPERIMENT = """
import logging, sys
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.strategy import GridSearch
from archspace.testing import TinySpace

def metric(model, ctx):
    if ctx.sample["x"] % 2:
        raise ValueError(f"odd x={{ctx.sample['x']}} is not allowed\\nsecond line of the reason")
    return {{"default": float(ctx.sample["x"]), "size": float(ctx.sample["hidden"])}}

experiment = Experiment(TinySpace(), FunctionalEvaluator(metric), GridSearch(), max_trials=6, executor="inline",
                        directory="out", objectives=["default:max", "size:min"], {progress})

if __name__ == "__main__":
    if "--quiet" in sys.argv:
        logging.getLogger("archspace").addHandler(logging.NullHandler())
    experiment.run()
    print("ran")
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archspace.cli.main", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=120)


def test_python_run_prints_each_failed_trial_and_trials_lists_errors_and_objectives(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "exp.py").write_text(EXPERIMENT.format(progress="progress=False"))
    ran = subprocess.run([sys.executable, "exp.py"], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0 and "ran" in ran.stdout, ran.stderr
    failed = [line for line in ran.stderr.splitlines() if "failed:" in line]
    assert failed == [f"WARNING archspace.experiment: trial {i} failed: ValueError: odd x=1 is not allowed"
                      for i in (2, 3)]  # one line each, as it happened (logging: no console was configured)
    assert "archspace:" not in ran.stderr  # progress=False: no bar

    listing = _cli(["trials", "out"], tmp_path)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["id", "status", "default", "size", "duration", "sample", "error"]
    assert len(lines) == 7
    assert lines[3].split()[:4] == ["2", "failed", "-", "-"] and lines[3].endswith("ValueError: odd x=1 is not allowed")
    assert lines[5].split()[:4] == ["4", "succeeded", "2.0000", "2.0000"] and lines[5].endswith("  -")

    assert main(["trials", str(tmp_path / "out"), "--status", "failed"]) == 0  # in-process: saves a start-up
    only_failed = capsys.readouterr().out
    assert [line.split()[0] for line in only_failed.splitlines()[1:]] == ["2", "3"]
    assert "ValueError: odd x=1 is not allowed" in only_failed
    assert main(["trials", str(tmp_path / "out"), "-v"]) == 0
    verbose = capsys.readouterr().out
    assert verbose.count("    second line of the reason") >= 2 and "Traceback" in verbose


def test_failed_trials_can_be_silenced_with_logging(tmp_path: Path) -> None:
    (tmp_path / "exp.py").write_text(EXPERIMENT.format(progress="progress=False"))
    ran = subprocess.run([sys.executable, "exp.py", "--quiet"], cwd=tmp_path, env=_env(), capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0 and "failed" not in ran.stderr, ran.stderr
    assert "trial 2 failed: ValueError" in (tmp_path / "out" / "experiment.log").read_text()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_python_run_on_a_terminal_shows_the_bar_and_the_failures(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    (tmp_path / "exp.py").write_text(EXPERIMENT.format(progress=""))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # tqdm draws nothing 0 wide
    proc = subprocess.Popen([sys.executable, "exp.py"], cwd=tmp_path, env=_env(), stdin=slave, stdout=slave,
                            stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, out
    text = out.decode(errors="replace")
    assert "archspace: 100%" in text and "ok=4 failed=2" in text  # the command's bar, from Python
    assert "trial 2 failed: ValueError: odd x=1 is not allowed" in text
    assert "trial 3 failed: ValueError: odd x=1 is not allowed" in text


SLOW = """
import pathlib, time
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.strategy import GridSearch
from archspace.testing import TinySpace

def slow(model, ctx):
    pathlib.Path("started").write_text("1")
    time.sleep(60)
    return 1.0

experiment = Experiment(TinySpace(), FunctionalEvaluator(slow), GridSearch(), max_trials=2, executor="inline",
                        directory="runs/my search", progress=False)
"""


def test_ctrl_c_names_the_directory_to_resume(tmp_path: Path) -> None:
    (tmp_path / "exp.py").write_text(SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", "exp.py"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the trial never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "continue with `archspace resume 'runs/my search'`" in err and "DIR" not in err


def test_the_error_column_cuts_long_first_lines_and_keeps_pruned_steps() -> None:
    from archspace.cli.trials import ERROR_WIDTH, FULL_LINE, format_trials
    from archspace.storage import TrialRecord, TrialStatus

    long = "RuntimeError: " + "x" * 200 + "\nTraceback (most recent call last):\n  File 'a.py'"
    trials = [TrialRecord(0, {"x": 1}, TrialStatus.FAILED, error=long),
              TrialRecord(1, {"x": 2}, TrialStatus.PRUNED, metric=0.5, intermediates=[(1, 0.4), (3, 0.5)])]
    table = format_trials(trials).splitlines()
    assert table[1].endswith("RuntimeError: " + "x" * (ERROR_WIDTH - 17) + "...") and "0.5000 @3" in table[2]
    whole = format_trials(trials, error_width=FULL_LINE).splitlines()
    assert whole[1].endswith("x" * 200)
    verbose = format_trials(trials, full_errors=True).splitlines()
    assert verbose[2] == "    RuntimeError: " + "x" * 200 and verbose[3] == "    Traceback (most recent call last):"
    assert format_trials(trials, ["accuracy"]).splitlines()[0].split()[2] == "metric"  # one objective: one column
