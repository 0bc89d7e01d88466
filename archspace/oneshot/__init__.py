"""One-shot NAS: weight-sharing supernets and the strategies that train them."""

from __future__ import annotations

from archspace.oneshot._trainer import OneShotTrainer, average_gradients, broadcast_parameters
from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.darts import DARTS
from archspace.oneshot.gumbel import GumbelDARTS
from archspace.oneshot.supernet import Supernet, to_supernet

__all__ = ["DARTS", "ArchParameters", "GumbelDARTS", "OneShotTrainer", "Supernet", "average_gradients",
           "broadcast_parameters", "to_supernet"]
