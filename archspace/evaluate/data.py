"""Compatibility home of the dataset readers, which now live in :mod:`archspace.data`."""

from __future__ import annotations

from archspace.data import CIFAR10_MEAN, CIFAR10_STD, augment, cifar10, digits, normalize

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "augment", "cifar10", "digits", "normalize"]
