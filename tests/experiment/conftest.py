"""Fixtures that make real faults: small or read-only file systems (tmpfs mounts, as root)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs(size="1m")`` mounts a fresh tmpfs of that size and returns its path; unmounted after.

    CI runs as root on these machines, so real mounts are the way to get a full disk or a read-only
    file system (root ignores permission bits). Without the privilege the test fails, loudly.
    """
    mounts: list[Path] = []

    def mount(size: str = "1m", name: str = "mnt") -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"this test needs to mount a tmpfs (root): {done.stderr}"
        mounts.append(point)
        return point

    yield mount
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def remount_read_only(point: Path) -> None:
    """Make a mounted tmpfs read-only (writes then fail with EROFS, even for root)."""
    done = subprocess.run(["mount", "-o", "remount,ro", str(point)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
