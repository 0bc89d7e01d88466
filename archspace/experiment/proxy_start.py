"""The proxy warm start of a multi-trial experiment: ``Experiment(..., proxy="synflow",
proxy_pool=N)``.

Before the first trial, ``proxy_pool`` random candidates of the space (drawn under the
experiment's seed, each passing its constraints) are scored untrained with the zero-cost proxy
(or with several, combined by mean rank), and the ``proxy_top`` best become the first trials,
ahead of anything the strategy proposes; the strategy is told their results like any other, so
RegularizedEvolution starts from them as its population and Random simply tried them first.
This is the zero-cost paper's warmup (Abdelfattah et al., ICLR 2021). It runs once: a resumed
experiment finds the warm trials in its store and never scores the pool again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from archspace.errors import ArchspaceError
from archspace.experiment.errors import InvalidSettingError, check_int
from archspace.hardware.profile import default_input_shape
from archspace.nn.space import ModelSpace
from archspace.proxies import PROXIES, Batch, Proxy, build_proxies, top_by_proxy
from archspace.space.samples import Sample

logger = logging.getLogger("archspace.experiment")

#: Warm trials when proxy_top is not given and the strategy has no population to fill.
DEFAULT_TOP = 10


@dataclass(frozen=True)
class ProxyStart:
    """A checked warm-start setting: the proxies, the pool, how many to try first, the batch."""

    proxies: tuple[Proxy, ...]
    pool: int
    top: int
    batch: Batch

    def samples(self, space: ModelSpace, seed: int | None, accept: Callable[[Sample], bool] | None) -> list[Sample]:
        """The warm trials, best first (scoring the pool now)."""
        start = time.perf_counter()
        chosen = top_by_proxy(space, self.proxies, self.batch, pool=self.pool, top=self.top, seed=seed or 0,
                              accept=accept)
        logger.info("proxy warm start: %d candidates scored with %s in %.1f s; the best %d are the first trials",
                    self.pool, "+".join(p.name for p in self.proxies), time.perf_counter() - start, len(chosen))
        return chosen


def check_proxy_start(space: ModelSpace, strategy: Any, *, proxy: str | Sequence[str] | None, proxy_pool: Any,
                      proxy_top: Any, proxy_batch: Any, input_shape: Sequence[int] | None,
                      oneshot: bool) -> ProxyStart | None:
    """The warm start these settings ask for, or None; bad settings are refused by name.

    Args:
        proxy: a proxy name (``archspace.proxies.PROXIES``) or several (combined by mean rank).
        proxy_pool: how many random candidates to score (required with ``proxy``).
        proxy_top: how many of the best to try first (default: the strategy's
            ``population_size`` when it has one, else :data:`DEFAULT_TOP`; at most the pool).
        proxy_batch: ``(inputs, targets)`` or a :class:`~archspace.proxies.Batch`, required by the
            proxies that read data; the data-free ones (params, flops, synflow) need only a shape:
            ``input_shape`` or the space's ``example_input``.
    """
    if proxy is None:
        for name, value in (("proxy_pool", proxy_pool), ("proxy_top", proxy_top), ("proxy_batch", proxy_batch)):
            if value is not None:
                raise InvalidSettingError(f"{name} is a setting of the proxy warm start: give proxy= too "
                                          f"(one of {PROXIES.list()})")
        return None
    if oneshot:
        raise InvalidSettingError("proxy= warm-starts a multi-trial strategy; a one-shot search trains one supernet")
    try:
        proxies = tuple(build_proxies(PROXIES, proxy))
    except ArchspaceError as exc:
        raise InvalidSettingError(f"proxy: {exc}") from None
    if proxy_pool is None:
        raise InvalidSettingError("proxy= needs proxy_pool=N: how many random candidates to score")
    check_int("proxy_pool", proxy_pool)
    if proxy_top is None:
        population = getattr(strategy, "population_size", None)
        proxy_top = min(proxy_pool, population if isinstance(population, int) and population > 0 else DEFAULT_TOP)
    check_int("proxy_top", proxy_top)
    if proxy_top > proxy_pool:
        raise InvalidSettingError(f"proxy_top must be at most proxy_pool ({proxy_pool}), got {proxy_top}")
    return ProxyStart(proxies, proxy_pool, proxy_top, _batch(space, proxies, proxy_batch, input_shape))


def _batch(space: ModelSpace, proxies: Sequence[Proxy], given: Any, input_shape: Sequence[int] | None) -> Batch:
    if isinstance(given, Batch):
        batch = given
    elif given is not None:
        if not (isinstance(given, tuple | list) and len(given) == 2 and all(isinstance(t, torch.Tensor) for t in given)):
            raise InvalidSettingError(f"proxy_batch must be (inputs, targets) tensors or a proxies.Batch, got "
                                      f"{type(given).__name__}")
        try:
            batch = Batch(given[0], given[1])
        except ArchspaceError as exc:
            raise InvalidSettingError(f"proxy_batch: {exc}") from None
    else:
        needs = [p.name for p in proxies if p.needs_data]
        if needs:
            raise InvalidSettingError(f"proxies {needs} read data: pass proxy_batch=(inputs, targets), one "
                                      "minibatch of training data (params, flops and synflow need none)")
        try:
            shape = tuple(input_shape) if input_shape is not None else default_input_shape(space)
        except ArchspaceError as exc:
            raise InvalidSettingError(f"proxy: {exc}") from None
        batch = Batch(torch.zeros((1, *shape[1:])))
    missing = [p.name for p in proxies if p.needs_labels and batch.targets is None]
    if missing:
        raise InvalidSettingError(f"proxies {missing} take a loss: proxy_batch needs targets")
    return batch


__all__ = ["DEFAULT_TOP", "ProxyStart", "check_proxy_start"]
