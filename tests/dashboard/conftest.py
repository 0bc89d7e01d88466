"""Browser fixtures: Debian's chromium (installed when missing and we are root), driven by Playwright."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archspace.dashboard.server import create_server


@pytest.fixture(scope="session")
def chromium() -> str:
    """The system Chromium's path; installs Debian's package when it is missing (CI runs as root)."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                     ["apt-get", "install", "-y", "chromium"]):  # a fresh machine has no package lists yet
            subprocess.run(step, check=False, capture_output=True, timeout=900, env=env)
            found = shutil.which("chromium")
            if found is not None:
                break
    assert found is not None, "the browser tests need Debian's chromium: apt-get install -y chromium"
    return found


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """One headless Chromium per test module (Playwright, pointed at the system browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium)
        yield b
        b.close()


class Served:
    """A dashboard serving ``root`` on a free loopback port, in a thread of this process."""

    def __init__(self, root: Path) -> None:
        self.server, self.experiments = create_server(root, port=0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(root)`` starts a dashboard; all are stopped after the test."""
    started: list[Served] = []

    def start(root: Path) -> Served:
        started.append(Served(root))
        return started[-1]

    yield start
    for s in started:
        s.close()
