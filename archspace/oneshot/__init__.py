"""One-shot NAS: weight-sharing supernets, the strategies that train them, and a registry by name.

Layout: ``supernet.py`` (space -> supernet, export, subnets), ``forms.py`` (the registry of mixed
forms by decision type: :func:`register_mixed`), ``mixed_ops.py``, ``mixed_values.py`` and
``cell_mixed.py`` (the mixed forms of archspace's decision types), ``savings.py``, ``policy.py``
(how a pass weighs candidates; :class:`Softmax`, the default), ``loop.py`` (the shared training
loop), ``checkpoint.py`` (checkpoints and the names of a search directory's files),
``distributed.py``; one file per algorithm with its policy and ``step``: ``darts.py``,
``beta_darts.py`` (:class:`BetaDARTS`, DARTS with the Beta-Decay regulariser), ``darts_pt.py``
(:class:`DARTSPT`, DARTS with perturbation-based selection), ``gumbel.py``
(:class:`Gumbel`), ``drnas.py`` (:class:`DirichletWeights`, :class:`DrNAS`), ``enas.py``
(:class:`ENAS`), and the policies of the next algorithms, ``spos.py`` (:class:`SampledPath`) and
``proxyless.py`` (:class:`BinaryGates`, :class:`ProxylessNAS`).

Example:
    >>> from archspace.oneshot import ONESHOT, create_oneshot
    >>> ONESHOT.list()
    ['betadarts', 'darts', 'dartspt', 'drnas', 'enas', 'gumbel', 'proxylessnas', 'spos']
    >>> create_oneshot("darts", order=2, epochs=3).epochs
    3
"""

from __future__ import annotations

from typing import Any

from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.beta_darts import BetaDARTS
from archspace.oneshot.cell_mixed import MixedCell
from archspace.oneshot.checkpoint import CheckpointError, checkpoint_path, history_path, read_history
from archspace.oneshot.darts import DARTS
from archspace.oneshot.darts_pt import DARTSPT, Projection
from archspace.oneshot.distributed import average_gradients, broadcast_buffers, broadcast_parameters
from archspace.oneshot.drnas import DirichletWeights, DrNAS
from archspace.oneshot.enas import ENAS, ControllerPath
from archspace.oneshot.forms import MixedBuilder, MixedModule, register_mixed
from archspace.oneshot.gumbel import Gumbel, GumbelDARTS
from archspace.oneshot.loop import OneShotTrainer
from archspace.oneshot.policy import Mix, Softmax, WeightingPolicy, current_mix
from archspace.oneshot.proxyless import BinaryGates, ProxylessNAS
from archspace.oneshot.rerank import RerankResult, StandaloneRerank
from archspace.oneshot.spos import SPOS, SampledPath
from archspace.oneshot.supernet import Supernet, to_supernet
from archspace.oneshot.supernet_evaluator import SupernetEvaluator
from archspace.registry import Registry

ONESHOT: Registry[OneShotTrainer] = Registry("one-shot algorithm")
ONESHOT.add("darts", DARTS)
ONESHOT.add("betadarts", BetaDARTS)
ONESHOT.add("dartspt", DARTSPT)
ONESHOT.add("gumbel", GumbelDARTS)
ONESHOT.add("drnas", DrNAS)
ONESHOT.add("enas", ENAS)
ONESHOT.add("spos", SPOS)
ONESHOT.add("proxylessnas", ProxylessNAS)


def create_oneshot(name: str, **kwargs: Any) -> OneShotTrainer:
    """Build a registered one-shot algorithm by name, e.g. ``create_oneshot("darts", epochs=50)``.

    Raises:
        UnknownNameError: no algorithm has that name; the message lists the known ones.
        archspace.registry.UnknownArgumentError: a keyword the algorithm (or its base trainer)
            does not take.
    """
    return ONESHOT.create(name, **kwargs)


def list_oneshot() -> list[str]:
    """The registered one-shot algorithm names, sorted."""
    return ONESHOT.list()


__all__ = ["BetaDARTS", "DARTS", "DARTSPT", "DirichletWeights", "DrNAS", "ENAS", "ONESHOT", "SupernetEvaluator", "ArchParameters", "BinaryGates", "CheckpointError", "ControllerPath", "Gumbel", "GumbelDARTS", "Mix", "RerankResult", "StandaloneRerank",
           "MixedBuilder", "MixedCell", "MixedModule", "OneShotTrainer", "Projection", "ProxylessNAS", "SPOS", "SampledPath", "Softmax", "Supernet",
           "WeightingPolicy", "average_gradients", "broadcast_buffers", "broadcast_parameters", "checkpoint_path",
           "create_oneshot", "current_mix", "history_path", "list_oneshot", "read_history", "register_mixed",
           "to_supernet"]
