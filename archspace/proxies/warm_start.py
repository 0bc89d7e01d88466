"""Scoring samples of a space with proxies, and a proxy warm start for any strategy.

The warm start is the zero-cost paper's "warmup" (Abdelfattah et al., ICLR 2021, section 5):
draw a pool of random candidates, score each untrained with a proxy, and let the search begin
with the best-scored ones instead of random ones. For RegularizedEvolution the top candidates
become its initial population; for Random they are its first trials. The pool costs one proxy
evaluation per candidate (milliseconds to a second), never a training run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from archspace.nn.space import ModelSpace
from archspace.proxies.base import Batch, Proxy, ProxyError, ProxyScore
from archspace.proxies.combine import rank_combine
from archspace.registry import Registry
from archspace.space.samples import Sample, fingerprint


def proxy_names(proxy: str | Sequence[str]) -> list[str]:
    """``proxy`` as a non-empty list of names (one name, or several to combine by rank)."""
    names = [proxy] if isinstance(proxy, str) else list(proxy)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ProxyError(f"proxy must be a proxy name or a list of names, got {proxy!r}")
    return names


def build_proxies(registry: Registry[Proxy], proxy: str | Sequence[str]) -> list[Proxy]:
    """The proxies named by ``proxy`` (unknown names are refused with the known ones listed)."""
    return [registry.create(name) for name in proxy_names(proxy)]


def score_model(model: nn.Module, proxies: Sequence[Proxy], batch: Batch, *, seed: int = 0) -> dict[str, ProxyScore]:
    """Each proxy's score of ``model`` (the model is not changed)."""
    return {p.name: p(model, batch, seed=seed) for p in proxies}


def score_sample(space: ModelSpace, sample: Mapping[str, Any], proxies: Sequence[Proxy], batch: Batch, *,
                 seed: int = 0) -> dict[str, ProxyScore]:
    """Each proxy's score of the model ``sample`` picks from ``space``, its weights initialised
    under ``seed`` (the same seed gives the same network, hence the same scores)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.freeze(sample)
    model.to(batch.inputs.device)
    return score_model(model, proxies, batch, seed=seed)


def top_by_proxy(space: ModelSpace, proxies: Sequence[Proxy], batch: Batch, *, pool: int, top: int, seed: int = 0,
                 accept: Callable[[Sample], bool] | None = None) -> list[Sample]:
    """The ``top`` best of ``pool`` distinct random samples of ``space`` by the proxies (one
    proxy's score, or the mean rank over several), best first.

    Args:
        pool: how many random candidates to score.
        top: how many to return (at most ``pool``).
        seed: draws the pool and initialises every candidate's network.
        accept: a filter (e.g. the experiment's constraints); rejected candidates are not scored.
    """
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
        raise ProxyError(f"proxy_pool must be a positive int, got {pool!r}")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= pool:
        raise ProxyError(f"proxy_top must be an int from 1 to proxy_pool ({pool}), got {top!r}")
    search = space.search_space()
    rng = random.Random(seed)
    candidates: list[Sample] = []
    seen: set[str] = set()
    size = search.size()
    limit = min(pool, size) if size is not None else pool
    attempts = 0
    while len(candidates) < limit and attempts < 100 * pool:
        attempts += 1
        sample = search.random_sample(rng)
        key = fingerprint(sample)
        if key in seen or (accept is not None and not accept(sample)):
            continue
        seen.add(key)
        candidates.append(sample)
    if not candidates:
        return []
    columns: dict[str, list[float]] = {p.name: [] for p in proxies}
    for i, sample in enumerate(candidates):
        for name, result in score_sample(space, sample, proxies, batch, seed=seed + i).items():
            columns[name].append(result.value)
    combined = columns[proxies[0].name] if len(proxies) == 1 else rank_combine(columns)
    order = sorted(range(len(candidates)), key=lambda i: (math.isnan(combined[i]), -_finite(combined[i]), i))
    return [candidates[i] for i in order[:top]]


def _finite(value: float) -> float:
    return 0.0 if math.isnan(value) else value


__all__ = ["build_proxies", "proxy_names", "score_model", "score_sample", "top_by_proxy"]
