"""The direct one-shot API sets a sensible torch thread count, says so, and restores it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import torch

from archspace._threads import fair_threads
from archspace.oneshot import DARTS
from archspace.testing import SharedNet


class Spy(DARTS):
    """DARTS that remembers the thread count its steps ran with."""

    seen: list[int] = []

    def step(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        Spy.seen.append(torch.get_num_threads())
        return super().step(*args, **kwargs)


def _data() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g)) for _ in range(2)]


@pytest.mark.parametrize(("threads", "env", "expected"), [(1, None, 1), (None, "1", 1), (None, None, None)])
def test_fit_sets_logs_and_restores_threads(threads: int | None, env: str | None, expected: int | None,
                                            monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    if env is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    torch.set_num_threads(2)
    Spy.seen = []
    with caplog.at_level(logging.INFO, logger="archspace"):
        Spy(epochs=1, progress=False).fit(SharedNet(), _data(), _data(), threads=threads)
    want = expected if expected is not None else fair_threads(1)
    assert Spy.seen and set(Spy.seen) == {want}
    assert torch.get_num_threads() == 2  # restored
    assert any(f"{want} torch thread" in r.getMessage() for r in caplog.records)
    torch.set_num_threads(1)


def test_ranks_share_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspace._threads import local_processes

    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert local_processes() == 4
    assert fair_threads(local_processes()) == max(1, fair_threads(1) // 4)


def test_bad_thread_counts_are_refused() -> None:
    from archspace.errors import ArchspaceError

    with pytest.raises(ArchspaceError, match="threads must be a positive int"):
        DARTS(epochs=1, progress=False).fit(SharedNet(), _data(), _data(), threads=0)


def test_trainers_take_supernet_savings_and_name_unknown_ones() -> None:
    from archspace.errors import ArchspaceError

    trainer = DARTS(epochs=1, progress=False, savings={"channels_last": True})
    trainer.build(SharedNet())
    assert trainer.supernet.channels_last
    with pytest.raises(ArchspaceError, match=r"unknown supernet savings \['fast'\]; allowed: \['skip_zero'"):
        DARTS(savings={"fast": True})
