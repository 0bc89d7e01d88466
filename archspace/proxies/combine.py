"""Rank combination of several proxies ("vote" in the zero-cost paper, generalised).

Scores of different proxies live on unrelated scales (synflow spans tens of orders of magnitude,
NASWOT a few hundred units), so they are combined by rank: each proxy ranks the candidates, and a
candidate's combined score is its mean rank (ties share their mean rank). A candidate a proxy
could not score (NaN) ranks last for that proxy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from archspace.proxies.base import ProxyError


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1 (the smallest) to n, ties averaged; NaNs rank below everything.

    Example:
        >>> ranks([3.0, 1.0, 3.0, float("nan")])
        [3.5, 2.0, 3.5, 1.0]
    """
    keyed = sorted(range(len(values)), key=lambda i: (not math.isnan(values[i]), values[i] if not math.isnan(values[i]) else 0.0))
    out = [0.0] * len(values)
    i = 0
    while i < len(keyed):
        j = i
        while j + 1 < len(keyed) and _same(values[keyed[j + 1]], values[keyed[i]]):
            j += 1
        for k in range(i, j + 1):
            out[keyed[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def rank_combine(scores: Mapping[str, Sequence[float]]) -> list[float]:
    """The mean rank of each candidate over the proxies in ``scores`` (name -> one score per
    candidate); larger is better, like every proxy.

    Example:
        >>> rank_combine({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0], "c": [1.0, 3.0, 2.0]})
        [1.6666666666666667, 2.3333333333333335, 2.0]
    """
    if not scores:
        raise ProxyError("rank_combine needs at least one proxy's scores")
    lengths = {name: len(v) for name, v in scores.items()}
    if len(set(lengths.values())) != 1:
        raise ProxyError(f"every proxy must score the same candidates; got lengths {lengths}")
    per_proxy = [ranks(list(v)) for v in scores.values()]
    return [sum(r[i] for r in per_proxy) / len(per_proxy) for i in range(len(per_proxy[0]))]


__all__ = ["rank_combine", "ranks"]
