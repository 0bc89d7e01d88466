"""Zero-cost proxies: scores of an untrained network, from one minibatch or from no data, that
predict how well it trains (Abdelfattah et al., ICLR 2021, and the papers each proxy cites).

Every proxy is in :data:`PROXIES` by name, larger is better, and scoring never changes the
caller's model. Score a model, or a sample of a space with a seeded initialisation:

    >>> import torch
    >>> from torch import nn
    >>> from archspace.proxies import PROXIES, Batch
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> PROXIES.create("params")(net, Batch(torch.zeros(1, 4))).value
    23.0
    >>> sorted(PROXIES.list())[:4]
    ['fisher', 'flops', 'grad_norm', 'grasp']

:func:`top_by_proxy` is the warm start (``Experiment(..., proxy="synflow", proxy_pool=N)``);
:func:`rank_combine` combines several proxies by mean rank.
"""

from __future__ import annotations

from archspace.proxies.base import Batch, Proxy, ProxyError, ProxyScore, prunable_layers
from archspace.proxies.combine import rank_combine, ranks
from archspace.proxies.counts import Flops, Params
from archspace.proxies.fisher import Fisher
from archspace.proxies.grad_norm import GradNorm
from archspace.proxies.grasp import Grasp
from archspace.proxies.jacob_cov import JacobCov
from archspace.proxies.meco import Meco
from archspace.proxies.naswot import Naswot
from archspace.proxies.snip import Snip
from archspace.proxies.synflow import Synflow
from archspace.proxies.warm_start import build_proxies, proxy_names, score_model, score_sample, top_by_proxy
from archspace.proxies.zico import Zico
from archspace.registry import Registry

#: Every proxy by name; ``PROXIES.create(name)`` builds one.
PROXIES: Registry[Proxy] = Registry("proxy", "proxies", entries={
    p.name: p for p in (Params, Flops, Synflow, GradNorm, Snip, Grasp, Fisher, JacobCov, Naswot, Zico, Meco)})
#: The proxies that read no data (only the input shape).
DATA_FREE = ("params", "flops", "synflow")

__all__ = ["DATA_FREE", "PROXIES", "Batch", "Fisher", "Flops", "GradNorm", "Grasp", "JacobCov", "Meco", "Naswot", "Params",
           "Proxy", "ProxyError", "ProxyScore", "Snip", "Synflow", "build_proxies", "proxy_names", "prunable_layers",
           "rank_combine", "ranks", "score_model", "score_sample", "top_by_proxy", "Zico"]
