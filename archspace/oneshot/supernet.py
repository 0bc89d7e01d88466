"""From any model space to a weight-sharing supernet, and from its logits back to a sample.

``to_supernet(space)`` copies the space and replaces every decision-carrying module by its mixed
form (see ``mixed_ops.py``), following the same paths and labels as ``search_space()``; the
architecture logits live in one :class:`ArchParameters` apart from the network weights.
``Supernet.export()`` reads the chosen sample off the logits: the argmax of every decision, and
for cells the DARTS rule (per node, the ``num_ops_per_node`` strongest incoming edges by their best
op other than ``none``, each with that op).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn._walk import join
from archspace.nn.cell import Cell
from archspace.nn.choices import InputChoice, LayerChoice
from archspace.nn.layers import MutableLayer
from archspace.nn.mutable import Mutable
from archspace.nn.repeat import Repeat
from archspace.nn.space import ModelSpace
from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.mixed_ops import MixedCell, MixedInput, MixedLayer, MixedRepeat, mixed_value_layer
from archspace.space.samples import Sample

NONE_OPS = ("none", "zero")


def _convert(module: nn.Module, path: str, arch: ArchParameters, cells: list[MixedCell]) -> nn.Module:
    def child(suffix: str, sub: nn.Module) -> nn.Module:
        return _convert(sub, join(path, suffix), arch, cells)

    if isinstance(module, LayerChoice):
        label = module.label or path
        names = [str(v) for v in module.candidate_names]
        return MixedLayer(label, {n: child(n, module.candidate(v)) for n, v in zip(names, module.candidate_names)},
                          module.candidate_names, arch)
    if isinstance(module, InputChoice):
        return MixedInput(module.label or path, module.values(), module.reduction, module.n_candidates, arch)
    if isinstance(module, Repeat):
        label = module.label or path
        decision = module.decisions(label)
        blocks = [child(str(i), module._modules[str(i)]) for i in range(max(module.depths))]  # type: ignore[arg-type]
        return MixedRepeat(decision[0].label if decision else None, blocks, module.depths, arch)
    if isinstance(module, Cell):
        label = module.label or path
        edges = {
            (i, j): {name: child(f"ops.{i - module.num_predecessors}.0.{j}.{name}", op)
                     for name, op in module.edge(i, 0, j).items()}
            for i in module.node_indices for j in range(i)
        }
        pre = child("preprocessor", module.preprocessor) if module.preprocessor is not None else None
        post = child("postprocessor", module.postprocessor) if module.postprocessor is not None else None
        cell = MixedCell(label, edges, module.op_names, module.num_predecessors, module.num_nodes,
                         module.num_ops_per_node, arch, preprocessor=pre, postprocessor=post,
                         concat_dim=module.concat_dim)
        cells.append(cell)
        return cell
    if isinstance(module, Mutable):
        cls = type(module)
        raise SpaceDefinitionError(
            f"{cls.__module__}.{cls.__qualname__} at {path!r} has no one-shot mixed form: supernets mix "
            "LayerChoice, InputChoice, Repeat, Cell and archspace.nn layers; freeze this decision, or "
            "express it with those"
        )
    if isinstance(module, MutableLayer):
        return mixed_value_layer(module, arch, path) if module.is_mutable else module
    for name, sub in list(module._modules.items()):
        if sub is not None:
            new = child(name, sub)
            if new is not sub:
                module._modules[name] = new
    return module


class Supernet(nn.Module):
    """A weight-sharing supernet of a model space.

    Attributes:
        net: the space with every decision replaced by its mixed form.
        arch: the architecture logits (``arch_parameters()``), kept apart from ``weight_parameters()``.
    """

    def __init__(self, space: ModelSpace) -> None:
        super().__init__()
        if space.is_frozen:
            raise TypeError("to_supernet needs a model space, not a frozen model")
        self.space = [space]  # the original, kept out of this module's parameters
        self.arch = ArchParameters()
        self.cells: list[MixedCell] = []
        # The copy keeps the user's forward; only its decision-carrying children become mixed ops.
        self.net = _convert(copy.deepcopy(space), "", self.arch, self.cells)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.arch.new_pass()
        return self.net(*args, **kwargs)

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        """The network weights (optimised on training data)."""
        return self.net.parameters()

    def arch_parameters(self) -> Iterator[nn.Parameter]:
        """The architecture logits (optimised on validation data)."""
        return self.arch.parameters()

    def export(self) -> Sample:
        """The chosen sample, validated against the space."""
        space = self.space[0]
        decisions = space.search_space()
        sample: Sample = {}
        for name, values in self.arch.names.items():
            if name in decisions:
                sample[name] = values[int(self.arch.logits(name).detach().argmax())]
        for cell in self.cells:
            sample.update(_cell_choice(cell, self.arch))
        # Decisions the supernet has no logits for: those inside a cell's op for terms k > 0 (the
        # supernet trains one op per edge, term 0's) take the logits of the same op at term 0.
        for label, decision in decisions.items():
            if label in sample or not decisions.condition(label).holds(sample):
                continue
            twin = re.sub(r"\.ops\.(\d+)\.\d+\.", r".ops.\1.0.", label)
            if twin in self.arch.names:
                sample[label] = self.arch.names[twin][int(self.arch.logits(twin).detach().argmax())]
            else:
                sample[label] = decision.default
        return space.validate({k: v for k, v in sample.items() if k in decisions})


def _cell_choice(cell: MixedCell, arch: ArchParameters) -> Sample:
    """The DARTS derivation rule for one cell."""
    keep = [i for i, name in enumerate(cell.op_names) if name not in NONE_OPS] or list(range(len(cell.op_names)))
    sample: Sample = {}
    for i in range(cell.num_predecessors, cell.num_predecessors + cell.num_nodes):
        ranked = []
        for j in range(i):
            probs = torch.softmax(arch.logits(cell.edge_name(i, j)).detach(), -1)
            best = max(keep, key=lambda o: float(probs[o]))
            ranked.append((float(probs[best]), j, cell.op_names[best]))
        ranked.sort(key=lambda t: (-t[0], t[1]))
        chosen = ranked[: cell.num_ops_per_node]
        while len(chosen) < cell.num_ops_per_node:  # fewer predecessors than terms: repeat the best
            chosen.append(ranked[0])
        for k, (_, j, op) in enumerate(chosen):
            sample[f"{cell.label}/input_{i}_{k}"] = j
            sample[f"{cell.label}/op_{i}_{k}"] = op
    return sample


def to_supernet(space: ModelSpace) -> Supernet:
    """The weight-sharing supernet of ``space`` (the space itself is left untouched)."""
    return Supernet(space)


__all__ = ["Supernet", "to_supernet"]
