"""Fashion-201: the NAS-Bench-201 cell space trained on Fashion-MNIST under one fixed protocol.

A second tabular benchmark beside NB201's CIFAR table, built by archspace itself (issue 21). This
module holds what every entry of the table depends on:

- :class:`Fashion201Net`: the NB201 network (stem, three stages of cells joined by residual
  reductions, global pooling, a linear classifier) for 28x28 grayscale images: a one-channel
  stem, otherwise :class:`~archspace.hub.NasBench201` itself.
- :class:`Protocol`: the training protocol, every setting stated (a frozen dataclass);
  :data:`PROTOCOL` is the one the table is built with.
- :func:`train_one`: trains one architecture with one seed under a protocol and returns its
  :class:`Entry` (valid and test accuracy, the valid curve per epoch, params, FLOPs, train time).
- :func:`canonical_str` / :func:`unique_archs`: NB201's isomorphism classes. Two cells are the
  same when NB201's ``CellStructure.to_unique_str(consider_zero=True)`` says so: each node is the
  sorted sum of its incoming terms, ``skip_connect`` passes its source's expression on, an op
  writes ``(source)@op``, and a ``none`` edge (or an edge out of a node that is exactly zero)
  writes the zero term ``#``; only the output node's expression counts, so edges that never reach
  the output do not matter. This gives NB201's 6,466 classes of the 15,625 cells (tested). (Dropping
  the zero terms from sums as well would merge further, to 5,390; NB201 keeps them, and so do we.)
"""

from __future__ import annotations

import itertools
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspace.data.readers import fashion_mnist
from archspace.hardware.counting import count_flops, count_params
from archspace.hub.nasbench201 import EDGES, OPS, NasBench201, from_arch_str, isomorphism_key
from archspace.nn.space import fixed_arch

#: Fashion-MNIST's training-set mean and standard deviation (pixels in [0, 1]).
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


class Fashion201Net(NasBench201):
    """The NB201 space for grayscale images: a stem with ``in_channels`` inputs, the rest NB201's.

    Args:
        channels: channels of the first stage.
        num_cells: cells per stage.
        num_classes: classifier outputs.
        in_channels: image channels (1 for Fashion-MNIST).
        stem_stride: the stem convolution's stride (2 halves every stage's resolution: images padded
            to 32x32 are seen at 16, 8 and 4, NB201's ImageNet-16 scale, for a quarter of the cost).
        search: NB201's one-shot search form (non-affine batch norm in the cells; see
            :class:`~archspace.hub.NasBench201`); the table trains the stand-alone form.

    Example:
        >>> net = Fashion201Net(channels=4, num_cells=1)
        >>> tuple(net.freeze(net.default_sample())(Fashion201Net.example_input(2)).shape)
        (2, 10)
    """

    def __init__(self, channels: int = 16, num_cells: int = 5, num_classes: int = 10, in_channels: int = 1,
                 stem_stride: int = 1, search: bool = False) -> None:
        super().__init__(channels, num_cells, num_classes, search=search)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, stride=stem_stride, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))

    @staticmethod
    def example_input(batch_size: int = 2) -> torch.Tensor:
        """A random Fashion-MNIST-shaped batch, ``(batch_size, 1, 28, 28)``."""
        return torch.randn(batch_size, 1, 28, 28)


@dataclass(frozen=True)
class Protocol:
    """The training protocol of every entry of a Fashion-201 table, stated in full.

    Data: the 60,000 training images are split once by a permutation seeded with ``split_seed``:
    its first ``train_size`` images train, its last ``valid_size`` validate (disjoint); the test
    set is Fashion-MNIST's 10,000 test images. Images are padded with ``pad`` background (zero)
    pixels on each side (2: 32x32, so that a stride-2 stem gives stages of 16, 8 and 4), then
    scaled to [0, 1] and standardised with
    :data:`FASHION_MEAN` / :data:`FASHION_STD`; ``augmentation`` is ``"none"`` or ``"hflip"``
    (a random horizontal flip of each training image).

    Seed rule: a run with seed ``s`` draws its initial weights from ``torch.manual_seed(s)`` and
    its batch order (and flips) from a generator seeded with ``s``; the split does not depend on
    ``s``. Training runs on CPU with ``threads`` torch threads.

    Optimiser: SGD with Nesterov momentum (NB201's recipe), learning rate annealed per batch by
    a cosine schedule from ``learning_rate`` to 0 over all epochs, weight decay on every parameter.
    """

    name: str = "fashion201-v2"
    channels: int = 8
    num_cells: int = 3
    stem_stride: int = 2
    pad: int = 2
    train_size: int = 8_000
    valid_size: int = 5_000
    split_seed: int = 0
    epochs: int = 2
    batch_size: int = 128
    eval_batch_size: int = 1000
    optimizer: str = "sgd-nesterov"
    momentum: float = 0.9
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    schedule: str = "cosine-per-batch"
    augmentation: str = "none"
    threads: int = 1
    test_set: str = "fashion-mnist t10k (10,000 images)"

    def describe(self) -> dict[str, Any]:
        """The protocol's settings and the library versions that train under it (for a table header)."""
        return {**asdict(self), "versions": versions()}


#: The protocol of the shipped table, chosen by ``benchmarks/calibrate_fashion201.py`` (see
#: ``benchmarks/results/fashion201_calibration.json``). v1 (round 3, ``c8s2n3e3``: 3 epochs) met the
#: targets on 10 cells but spread only 3.6 points top-vs-median on its first 60 table cells (its
#: table is kept in ``benchmarks/results/fashion201_v1_table.json``); round 4 compared candidates on
#: the table's own first 12 cells, where v1 spread 3.14 points (seed tau 0.91): two epochs
#: (``c8s2n3e2``, this protocol) 5.06 points, tau 0.82, 24 s CPU per architecture; five cells per
#: stage 7.74 points, tau 0.82, but 52 s.
PROTOCOL = Protocol()


def versions() -> dict[str, str]:
    """The versions that an entry's numbers depend on."""
    try:
        archspace_version = metadata.version("archspace")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        archspace_version = "unknown"
    return {"archspace": archspace_version, "torch": torch.__version__, "python": platform.python_version()}


@dataclass
class Entry:
    """One architecture trained once: what a table row stores per seed.

    ``train_seconds`` is wall-clock time (training and evaluation); ``cpu_seconds`` the CPU time of
    the process over the same span (with one thread: the time on one core, even on a busy machine).
    """

    arch: str
    seed: int
    valid_acc: float
    test_acc: float
    valid_curve: list[float]
    params: int
    flops: int
    train_seconds: float
    cpu_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Isomorphism classes ----------------------------------------------------------------------------
#: NB201's isomorphism key of an arch string (the name this module gave it before it moved to
#: :func:`archspace.hub.nasbench201.isomorphism_key`, where its doctests are).
canonical_str = isomorphism_key


def all_archs() -> Iterator[str]:
    """The 15,625 NB201 arch strings, in the order of :data:`OPS` per edge (edges as :data:`EDGES`)."""
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        groups, it = [], iter(ops)
        for k in range(1, 4):
            groups.append("|" + "|".join(f"{next(it)}~{j}" for j in range(k)) + "|")
        yield "+".join(groups)


@lru_cache(maxsize=1)
def unique_archs() -> tuple[str, ...]:
    """One arch string per isomorphism class (the first in :func:`all_archs` order): 6,466."""
    seen: dict[str, str] = {}
    for arch in all_archs():
        seen.setdefault(canonical_str(arch), arch)
    return tuple(seen.values())


def representative(arch: str) -> str:
    """The member of ``arch``'s isomorphism class that :func:`unique_archs` lists."""
    return _representatives()[canonical_str(arch)]


def class_uniform_sampler() -> Callable[[torch.Generator], dict[str, str]]:
    """A path sampler for SPOS (``SPOS(path_sampler=...)``) on an NB201 cell space: one of the
    6,466 isomorphism classes uniformly, as its representative's sample (de-isomorphic sampling;
    see ``archspace.oneshot.spos``)."""
    classes = unique_archs()

    def draw(generator: torch.Generator) -> dict[str, str]:
        return from_arch_str(classes[int(torch.randint(len(classes), (1,), generator=generator))])

    return draw


@lru_cache(maxsize=1)
def _representatives() -> dict[str, str]:
    return {canonical_str(a): a for a in unique_archs()}


# Data and training ------------------------------------------------------------------------------
Split = tuple[torch.Tensor, torch.Tensor]


@lru_cache(maxsize=4)
def load_splits(protocol: Protocol, root: str | None = None) -> tuple[Split, Split, Split]:
    """``(train, valid, test)`` tensors of a protocol, standardised (cached per process).

    Args:
        protocol: the split's sizes and seed.
        root: the folder with the IDX files (default: ``$ARCHSPACE_FASHION_MNIST`` or Debian's
            ``/usr/share/datasets/fashion-mnist``; ``apt install dataset-fashion-mnist``).
    """
    x, y = fashion_mnist(Path(root) if root else None, train=True)
    xt, yt = fashion_mnist(Path(root) if root else None, train=False)
    if protocol.train_size + protocol.valid_size > len(x):
        raise ValueError(f"protocol {protocol.name!r} needs {protocol.train_size} + {protocol.valid_size} training "
                         f"images; the files at {root or 'the default folder'} hold {len(x)}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(protocol.split_seed))
    train, valid = order[:protocol.train_size], order[len(x) - protocol.valid_size:]

    def norm(t: torch.Tensor) -> torch.Tensor:
        t = nn.functional.pad(t, (protocol.pad,) * 4) if protocol.pad else t
        return ((t - FASHION_MEAN) / FASHION_STD).contiguous()

    return (norm(x[train]), y[train]), (norm(x[valid]), y[valid]), (norm(xt), yt)


def build_model(arch: str, protocol: Protocol, seed: int) -> nn.Module:
    """The frozen network of ``arch`` with its initial weights drawn from ``seed`` alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with fixed_arch(from_arch_str(arch)):
            return Fashion201Net(protocol.channels, protocol.num_cells, stem_stride=protocol.stem_stride)


def accuracy(model: nn.Module, data: Split, batch_size: int) -> float:
    """Top-1 accuracy of ``model`` in eval mode on ``(x, y)``."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data[0]), batch_size):
            correct += int((model(data[0][i:i + batch_size]).argmax(1) == data[1][i:i + batch_size]).sum())
    return correct / max(len(data[0]), 1)


def train_one(arch: str, seed: int, *, protocol: Protocol = PROTOCOL, root: str | None = None) -> Entry:
    """Train ``arch`` (an NB201 arch string) with ``seed`` under ``protocol``; its :class:`Entry`.

    The torch thread count is set to ``protocol.threads`` for the call and restored after.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(protocol.threads)
    try:
        return _train(arch, seed, protocol, root)
    finally:
        torch.set_num_threads(threads)


def _train(arch: str, seed: int, protocol: Protocol, root: str | None) -> Entry:
    train, valid, test = load_splits(protocol, root)
    model = build_model(arch, protocol, seed)
    params = count_params(model)
    flops = count_flops(model, (1, 1, 28 + 2 * protocol.pad, 28 + 2 * protocol.pad))
    opt = torch.optim.SGD(model.parameters(), lr=protocol.learning_rate, momentum=protocol.momentum,
                          nesterov=True, weight_decay=protocol.weight_decay)
    n, b = len(train[0]), protocol.batch_size
    steps = protocol.epochs * ((n + b - 1) // b)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    curve = []
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(protocol.epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, b):
            idx = order[i:i + b]
            x, y = train[0][idx], train[1][idx]
            if protocol.augmentation == "hflip":
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
        curve.append(accuracy(model, valid, protocol.eval_batch_size))
    test_acc = accuracy(model, test, protocol.eval_batch_size)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Entry(arch, seed, curve[-1], test_acc, curve, params, flops, round(seconds, 3), round(cpu, 3))


__all__ = ["FASHION_MEAN", "FASHION_STD", "PROTOCOL", "Entry", "Fashion201Net", "Protocol", "all_archs",
           "build_model", "canonical_str", "load_splits", "representative", "train_one", "unique_archs", "versions"]
