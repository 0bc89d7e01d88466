"""The mixed form of a :class:`~archspace.nn.Cell`: DARTS's continuous relaxation of a cell.

Node ``i`` sums one mixed op on every earlier state ``j`` (its logits ``{label}/edge_{i}_{j}``,
one per op name). The supernet trains one op per edge — the space's term-0 op on that edge — so
every term of a node shares it. This module owns the cell's layout in both directions: it knows
the module paths of the ops of every term (to name the decisions nested inside them), derives the
cell's sample from the edge logits (the DARTS rule: per node, the ``num_ops_per_node`` strongest
inputs by their best op other than ``none``), and follows the cell's merge rule: with
``merge_op="loose_end"`` the output concatenates the nodes that the currently derived wiring
leaves unread, so the supernet's output is exactly as wide as the frozen model of its export.

Every pass first asks its policy to pick the cell's own decisions, which have no logits
(:meth:`~archspace.oneshot.policy.MixingPass.pick`, each a :class:`~archspace.oneshot.policy.Mix`
of one index, or None). Most policies leave them relaxed (None) and the edges are mixed by the
policy, which sees each edge label like a LayerChoice's: a sampled policy (``SampledPath``,
``BinaryGates``) runs one op per edge, but every node still sums all its incoming edges and the
loose ends follow the logits. A policy that picks them (ENAS's controller path follows its whole
sample) gets exactly its wiring: term ``k`` of node ``i`` runs only the picked op (``op_{i}_{k}``)
on the picked input (``input_{i}_{k}``) — the trained op of that edge, called directly, unweighted
— and the loose ends follow that wiring, so the pass computes exactly the frozen cell of the sample. :meth:`MixedCell.pin`
fixes the wiring that export (and the loose ends under other policies) use instead of the
DARTS rule, for searches whose choice is not in the edge logits (ENAS: the controller's).
Decisions nested inside an op are read at the trained term-0 op's labels in that case.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from archspace.nn.cell import Cell, Concatenate, FixedCell
from archspace.nn.walk import join
from archspace.oneshot.forms import MixedBuilder, MixedModule, SubnetChild, register_mixed
from archspace.oneshot.mixed_ops import NONE_OPS, MixedLayer
from archspace.oneshot.policy import MixingPass, current_pass
from archspace.space.labels import edge_label

Wiring = dict[int, list[tuple[int, str]]]


class MixedCell(MixedModule):
    """A cell as DARTS trains it (see the module docstring); the registered mixed form of every Cell."""

    def __init__(self, cell: Cell, label: str, builder: MixedBuilder) -> None:
        super().__init__(builder.arch)
        self.label = label
        self.op_names = list(cell.op_names)
        self.num_predecessors = cell.num_predecessors
        self.num_nodes = cell.num_nodes
        self.num_ops_per_node = cell.num_ops_per_node
        self.merge_op = cell.merge_op
        self.concat_dim = cell.concat_dim
        nodes = list(cell.node_indices)
        terms = range(cell.num_ops_per_node)
        self.input_labels = {(i, k): cell.input_decision(label, i, k).label for i in nodes for k in terms}
        self.op_labels = {(i, k): cell.op_decision(label, i, k).label for i in nodes for k in terms}
        # The module path of the op of every (node, term, input, name): decisions nested in an op
        # are labelled below it, and term k > 0 reuses term 0's trained op.
        self.op_paths = {(i, k, j, name): join(builder.path, cell.op_suffix(i, k, j, name))
                         for i in nodes for k in terms for j in range(i) for name in self.op_names}
        edges = {(i, j): {name: builder.child(cell.op_suffix(i, 0, j, name), op)
                          for name, op in cell.edge(i, 0, j).items()}
                 for i in nodes for j in range(i)}
        self.preprocessor = builder.child("preprocessor", cell.preprocessor) if cell.preprocessor is not None else None
        self.postprocessor = (builder.child("postprocessor", cell.postprocessor)
                              if cell.postprocessor is not None else None)
        self.edges = nn.ModuleDict({
            f"{i}_{j}": MixedLayer(self.edge_name(i, j), ops, list(self.op_names), builder.arch)
            for (i, j), ops in edges.items()
        })
        self.pinned: Wiring | None = None
        #: node -> its input states, set by DARTS-PT's topology projection (see :meth:`fix_inputs`)
        self.fixed_inputs: dict[int, list[int]] = {}

    def fix_inputs(self, node: int, sources: list[int] | None) -> None:
        """Give ``node`` the input states ``sources`` (one per term, in order) in :meth:`derive`
        instead of its strongest incoming edges; each term's op stays the edge's strongest
        non-``none`` op. None goes back to the rule. (DARTS-PT's topology projection.)"""
        if sources is None:
            self.fixed_inputs.pop(node, None)
        else:
            self.fixed_inputs[node] = [int(j) for j in sources]

    def pin(self, wiring: Wiring | None) -> None:
        """Use ``wiring`` (node -> its terms' (input, op)) for export and loose ends instead of the
        DARTS rule; None goes back to the rule."""
        self.pinned = {i: list(terms) for i, terms in wiring.items()} if wiring is not None else None

    def wiring_of(self, sample: Mapping[str, Any]) -> Wiring:
        """The wiring ``sample`` gives this cell (node -> its terms' (input, op))."""
        return {i: [(int(sample[self.input_labels[(i, k)]]), str(sample[self.op_labels[(i, k)]]))
                    for k in range(self.num_ops_per_node)] for i in self.node_indices}

    def edge_name(self, node: int, source: int) -> str:
        """The logits' name of the edge from state ``source`` into node ``node``."""
        return edge_label(node, source, self.label)

    @property
    def node_indices(self) -> range:
        """The state indices of the nodes."""
        return range(self.num_predecessors, self.num_predecessors + self.num_nodes)

    def derive(self) -> Wiring:
        """The DARTS rule: per node, its terms' (input state, op), strongest edges first (or the
        :meth:`pin`-ned wiring; a node's :meth:`fix_inputs` sources in their order)."""
        if self.pinned is not None:
            return {i: list(terms) for i, terms in self.pinned.items()}
        keep = ([i for i, name in enumerate(self.op_names) if name not in NONE_OPS]
                or list(range(len(self.op_names))))
        wiring: dict[int, list[tuple[int, str]]] = {}
        for i in self.node_indices:
            ranked = []
            for j in range(i):
                probs = torch.softmax(self.arch.logits(self.edge_name(i, j)).detach(), -1)
                best = max(keep, key=lambda o: float(probs[o]))
                ranked.append((float(probs[best]), j, self.op_names[best]))
            if i in self.fixed_inputs:
                wiring[i] = [(j, ranked[j][2]) for j in self.fixed_inputs[i]]
                continue
            ranked.sort(key=lambda t: (-t[0], t[1]))
            chosen = ranked[: self.num_ops_per_node]
            while len(chosen) < self.num_ops_per_node:  # fewer predecessors than terms: repeat the best
                chosen.append(ranked[0])
            wiring[i] = [(j, op) for _, j, op in chosen]
        return wiring

    def output_nodes(self, wiring: Mapping[int, list[tuple[int, str]]] | None) -> list[int]:
        """The nodes the output concatenates, by the cell's merge rule (as :class:`FixedCell`)."""
        if self.merge_op == "all" or wiring is None:
            return list(self.node_indices)
        used = {j for terms in wiring.values() for j, _ in terms}
        return [i for i in self.node_indices if i not in used]

    def forward(self, *inputs: Any) -> torch.Tensor:
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        states = list(self.preprocessor(list(inputs))) if self.preprocessor is not None else list(inputs)
        running = current_pass()
        wiring = self._picked_wiring(running) if running is not None else None
        if wiring is not None:
            for i in self.node_indices:
                states.append(sum(self._edge_op(i, j, op)(states[j]) for j, op in wiring[i]))
        else:
            for i in self.node_indices:
                states.append(sum(self.edges[f"{i}_{j}"](states[j]) for j in range(i)))
            wiring = self.derive() if self.merge_op != "all" else None
        out = torch.cat([states[i] for i in self.output_nodes(wiring)], dim=self.concat_dim)
        if self.postprocessor is not None:
            out = self.postprocessor(out, list(inputs))
        return out

    def _picked_wiring(self, running: MixingPass) -> Wiring | None:
        """Every term's (input, op) as the pass's policy picks them, or None where it leaves the
        cell's decisions relaxed (the edges are mixed then)."""
        wiring: Wiring = {}
        for i in self.node_indices:
            terms: list[tuple[int, str]] = []
            for k in range(self.num_ops_per_node):
                source = running.pick(self.input_labels[(i, k)], list(range(i)))
                if source is None:
                    return None
                op = running.pick(self.op_labels[(i, k)], self.op_names)
                if op is None:
                    return None
                terms.append((source.indices[0], self.op_names[op.indices[0]]))
            wiring[i] = terms
        return wiring

    def _edge_op(self, node: int, source: int, op: str) -> nn.Module:
        """The trained op ``op`` of the edge from ``source`` into ``node``."""
        edge = self.edges[f"{node}_{source}"]
        assert isinstance(edge, MixedLayer)
        return edge.candidates[op]

    def _twin_labels(self, node: int, k: int, j: int, op: str) -> dict[str, str]:
        """Label of a decision nested in term 0's op -> the same decision in term ``k``'s op."""
        first, mine = self.op_paths[(node, 0, j, op)] + ".", self.op_paths[(node, k, j, op)] + "."
        return {name: mine + name[len(first):] for name in self.arch.names if name.startswith(first)}

    def export_into(self, sample: dict[str, Any]) -> None:
        for i, terms in self.derive().items():
            for k, (j, op) in enumerate(terms):
                sample[self.input_labels[(i, k)]] = j
                sample[self.op_labels[(i, k)]] = op
                if k > 0:  # decisions inside term k's op take the trained term-0 op's choices
                    for trained, twin in self._twin_labels(i, k, j, op).items():
                        sample[twin] = self.arch.best(trained)

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        ops: list[list[nn.Module]] = []
        inputs: list[list[int]] = []
        taken: set[int] = set()
        for i in self.node_indices:
            node_ops, node_inputs = [], []
            for k in range(self.num_ops_per_node):
                j, op = int(sample[self.input_labels[(i, k)]]), str(sample[self.op_labels[(i, k)]])
                edge = self.edges[f"{i}_{j}"]
                assert isinstance(edge, MixedLayer)
                module: nn.Module = edge.candidates[op]
                if id(module) in taken:  # two terms on one edge: each frozen term owns its weights
                    module = copy.deepcopy(module)
                taken.add(id(module))
                term_sample = dict(sample)
                for trained, twin in self._twin_labels(i, k, j, op).items():
                    if twin in sample:
                        term_sample[trained] = sample[twin]
                node_ops.append(child(module, term_sample))
                node_inputs.append(j)
            ops.append(node_ops)
            inputs.append(node_inputs)
        pre = child(self.preprocessor, sample) if self.preprocessor is not None else None
        post = child(self.postprocessor, sample) if self.postprocessor is not None else None
        merge = Concatenate(self.concat_dim) if self.merge_op == "loose_end" else None  # as Cell.freeze_with
        return FixedCell(ops, inputs, self.num_predecessors, self.merge_op, preprocessor=pre, postprocessor=post,
                         concat_dim=self.concat_dim, merge=merge)


@register_mixed(Cell)
def _mixed_cell(cell: Cell, label: str, builder: MixedBuilder) -> nn.Module:
    """DARTS's relaxation of a cell: a :class:`MixedCell`."""
    return MixedCell(cell, label, builder)


__all__ = ["NONE_OPS", "MixedCell", "Wiring"]
