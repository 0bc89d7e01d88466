"""Datasets by name: small readers that need no download tool, transforms, and a registry.

A dataset in :data:`DATASETS` is a function returning ``(train, val)``, each a pair of tensors
``(inputs, targets)``; configs name one as an evaluator's ``data``.

Example:
    >>> from archspace.data import DATASETS
    >>> DATASETS.list()[:2]
    ['cifar10', 'digits']
    >>> (x, y), (xv, yv) = DATASETS.create("digits", val_fraction=0.5)
    >>> len(x) - len(xv)
    1
"""

from __future__ import annotations

from typing import Any

from archspace.data.landmarks import landmarks
from archspace.data.readers import Tensors, cifar10, cifar10_splits, digits, fashion_mnist, fashion_mnist_splits
from archspace.data.transforms import CIFAR10_MEAN, CIFAR10_STD, augment, normalize
from archspace.registry import Registry

DATASETS: Registry[tuple[Tensors, Tensors]] = Registry("dataset")
DATASETS.add("digits", digits)
DATASETS.add("cifar10", cifar10_splits)
DATASETS.add("landmarks", landmarks)
DATASETS.add("fashion_mnist", fashion_mnist_splits)


def create_dataset(name: str, /, *args: Any, **kwargs: Any) -> tuple[Tensors, Tensors]:
    """Load a registered dataset as ``(train, val)``, e.g. ``create_dataset("cifar10", "data/")``.

    Raises:
        UnknownNameError: no dataset has that name; the message lists the known ones.
        archspace.registry.UnknownArgumentError: a keyword the reader does not take.
    """
    return DATASETS.create(name, *args, **kwargs)


def list_datasets() -> list[str]:
    """The registered dataset names, sorted."""
    return DATASETS.list()


__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "DATASETS", "Tensors", "augment", "cifar10", "cifar10_splits", "fashion_mnist",
           "fashion_mnist_splits",
           "create_dataset", "digits", "landmarks", "list_datasets", "normalize"]
