"""Cell: the NASNet / DARTS cell, where each node picks inputs and an op per picked input.

A cell has ``num_predecessors`` inputs (states ``0 .. num_predecessors-1``) and ``num_nodes``
nodes (states ``num_predecessors ..``). Node ``i`` sums ``num_ops_per_node`` terms; term ``k`` applies
the op chosen by ``{label}/op_{i}_{k}`` to the state chosen by ``{label}/input_{i}_{k}`` (any
earlier state). The cell's output concatenates (along ``concat_dim``) all nodes (``merge_op="all"``)
or only the nodes no other node reads (``"loose_end"``).

The space form holds a set of candidate ops for every (node, term, input) edge, so that each edge
can be built for its input (e.g. stride 2 on a reduction cell's inputs only) and one-shot
strategies can weight every edge; frozen, each term keeps only its chosen op.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn.mutable import Branch, FreezeChild, Mutable, Resolver
from archspace.space.decisions import Categorical
from archspace.space.labels import cell_input_label, cell_op_label

OpFactory: TypeAlias = (
    Mapping[str, nn.Module | Callable[[int, int, int], nn.Module]]
    | Callable[[int, int, int], Mapping[str, nn.Module]]
)
MERGE_OPS = ("all", "loose_end")


def _edge_candidates(op_factory: OpFactory, node: int, k: int, inp: int) -> dict[str, nn.Module]:
    if isinstance(op_factory, Mapping):
        raw: Mapping[str, Any] = {
            name: copy.deepcopy(op) if isinstance(op, nn.Module) else op(node, k, inp)
            for name, op in op_factory.items()
        }
    elif callable(op_factory):
        raw = op_factory(node, k, inp)
        if not isinstance(raw, Mapping):
            raise SpaceDefinitionError(
                f"Cell op_factory({node}, {k}, {inp}) returned {type(raw).__name__}; it must return a dict name -> module"
            )
    else:
        raise SpaceDefinitionError(f"Cell op_factory must be a dict of ops or a callable, got {op_factory!r}")
    if not raw:
        raise SpaceDefinitionError("Cell op_factory gave no candidate ops")
    for name, op in raw.items():
        if not isinstance(name, str) or not name or "." in name:
            raise SpaceDefinitionError(f"Cell op name {name!r} must be a non-empty string without '.'")
        if not isinstance(op, nn.Module):
            raise SpaceDefinitionError(f"Cell op {name!r} for node {node}, term {k}, input {inp} is not an nn.Module")
    return dict(raw)


class Cell(Mutable):
    """A cell whose wiring and ops are decisions (see the module docstring for the layout).

    Args:
        op_factory: a dict name -> module (deep-copied per edge) or name -> callable
            ``(node_index, op_index, input_index) -> module``; or a callable
            ``(node_index, op_index, input_index) -> dict name -> module``.
        num_nodes: number of nodes.
        num_ops_per_node: terms summed in each node (DARTS: 2).
        num_predecessors: number of cell inputs (DARTS: 2, the two previous cells).
        merge_op: ``"all"`` or ``"loose_end"``.
        preprocessor: optional module mapping the list of inputs to the list of initial states.
        postprocessor: optional module ``(output, inputs) -> output``.
        concat_dim: the dimension nodes are concatenated along.
        label: prefix of the cell's decision labels; by default the module path.
    """

    def __init__(
        self,
        op_factory: OpFactory,
        num_nodes: int,
        num_ops_per_node: int = 1,
        num_predecessors: int = 1,
        merge_op: str = "all",
        *,
        preprocessor: nn.Module | None = None,
        postprocessor: nn.Module | None = None,
        concat_dim: int = 1,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        for name, value in (("num_nodes", num_nodes), ("num_ops_per_node", num_ops_per_node),
                            ("num_predecessors", num_predecessors)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpaceDefinitionError(f"Cell {name} must be a positive int, got {value!r}")
        if merge_op not in MERGE_OPS:
            raise SpaceDefinitionError(f"Cell merge_op {merge_op!r} is not one of {list(MERGE_OPS)}")
        self.num_nodes = num_nodes
        self.num_ops_per_node = num_ops_per_node
        self.num_predecessors = num_predecessors
        self.merge_op = merge_op
        self.concat_dim = concat_dim
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        # With loose ends, what is concatenated depends on the wiring: a module of its own, so
        # that profiles and latency tables can key it by which nodes are loose (no parameters).
        self.merge = Concatenate(concat_dim) if merge_op == "loose_end" else None
        # ops[node][term][input] is a ModuleDict of candidate ops for that edge.
        self.ops = nn.ModuleList()
        names: list[str] | None = None
        for node in self.node_indices:
            per_node = nn.ModuleList()
            for k in range(num_ops_per_node):
                per_term = nn.ModuleList()
                for inp in range(node):
                    candidates = _edge_candidates(op_factory, node, k, inp)
                    if names is None:
                        names = list(candidates)
                    elif list(candidates) != names:
                        raise SpaceDefinitionError(
                            f"Cell edge ({node}, {k}, {inp}) offers ops {list(candidates)}, others {names}; every edge must offer the same names"
                        )
                    per_term.append(nn.ModuleDict(candidates))
                per_node.append(per_term)
            self.ops.append(per_node)
        assert names is not None
        self.op_names = names

    @property
    def node_indices(self) -> range:
        """The state indices of the nodes."""
        return range(self.num_predecessors, self.num_predecessors + self.num_nodes)

    def op_decision(self, label: str, node: int, k: int) -> Categorical:
        """The decision choosing term ``k``'s op of node ``node``."""
        return Categorical(self.op_names, cell_op_label(label, node, k), origin=label)

    def input_decision(self, label: str, node: int, k: int) -> Categorical:
        """The decision choosing term ``k``'s input state of node ``node``."""
        return Categorical(list(range(node)), cell_input_label(label, node, k), origin=label)

    def op_suffix(self, node: int, k: int, inp: int, name: str) -> str:
        """The module path, below the cell, of op ``name`` of term ``k`` of ``node`` on input ``inp``.

        Decisions nested in an op are labelled below this path by default; the space walker,
        freezing and the one-shot mixed form all name ops through this one method.
        """
        return f"ops.{node - self.num_predecessors}.{k}.{inp}.{name}"

    def edge(self, node: int, k: int, inp: int) -> nn.ModuleDict:
        """The candidate ops of one edge."""
        return self.ops[node - self.num_predecessors][k][inp]  # type: ignore[index]

    def decisions(self, label: str) -> list[Categorical]:
        out = []
        for node in self.node_indices:
            for k in range(self.num_ops_per_node):
                out += [self.input_decision(label, node, k), self.op_decision(label, node, k)]
        return out

    def branches(self, label: str) -> Iterator[Branch]:
        for name in ("preprocessor", "merge", "postprocessor"):
            module = getattr(self, name)
            if module is not None:
                yield name, module, []
        for node in self.node_indices:
            for k in range(self.num_ops_per_node):
                in_label = self.input_decision(label, node, k).label
                op_label = self.op_decision(label, node, k).label
                for inp in range(node):
                    for op_name, op in self.edge(node, k, inp).items():
                        yield self.op_suffix(node, k, inp, op_name), op, [(in_label, [inp]), (op_label, [op_name])]

    def branch_outputs(self, label: str) -> dict[str, list[list[tuple[str, list[Any]]]]]:
        """The preprocessor's output ``i`` (state ``i``) is read when some term's input is ``i``."""
        if self.preprocessor is None:
            return {}
        reads = [(self.input_decision(label, node, k).label, [i]) for i in range(self.num_predecessors)
                 for node in self.node_indices for k in range(self.num_ops_per_node) if i < node]
        return {"preprocessor": [[r for r in reads if r[1] == [i]] for i in range(self.num_predecessors)]}

    def branch_flags(self, label: str) -> dict[str, list[list[tuple[str, list[Any]]]]]:
        """With loose ends, the merge and the postprocessor see the nodes no later node reads:
        per node that has later nodes, the alternatives under which one reads it."""
        if self.merge_op != "loose_end":
            return {}
        flags = [[(self.input_decision(label, later, k).label, [node]) for later in self.node_indices if later > node
                  for k in range(self.num_ops_per_node)] for node in self.node_indices[:-1]]
        return {name: flags for name in ("merge", "postprocessor") if getattr(self, name) is not None}

    def freeze_with(self, label: str, resolver: Resolver, freeze_child: FreezeChild) -> nn.Module:
        pre = freeze_child("preprocessor", self.preprocessor) if self.preprocessor is not None else None
        merge = freeze_child("merge", self.merge) if self.merge is not None else None
        post = freeze_child("postprocessor", self.postprocessor) if self.postprocessor is not None else None
        ops: list[list[nn.Module]] = []
        inputs: list[list[int]] = []
        for node in self.node_indices:
            node_ops, node_inputs = [], []
            for k in range(self.num_ops_per_node):
                inp = resolver.value(self.input_decision(label, node, k), label)
                op_name = resolver.value(self.op_decision(label, node, k), label)
                node_ops.append(freeze_child(self.op_suffix(node, k, inp, op_name), self.edge(node, k, inp)[op_name]))
                node_inputs.append(inp)
            ops.append(node_ops)
            inputs.append(node_inputs)
        return FixedCell(ops, inputs, self.num_predecessors, self.merge_op, preprocessor=pre,
                         postprocessor=post, concat_dim=self.concat_dim, merge=merge)

    def extra_repr(self) -> str:
        return (f"num_nodes={self.num_nodes}, num_ops_per_node={self.num_ops_per_node}, "
                f"num_predecessors={self.num_predecessors}, merge_op={self.merge_op!r}, ops={self.op_names}")


class Concatenate(nn.Module):
    """Concatenates a list of tensors along ``dim`` (a cell's merge of its loose ends)."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(tensors, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class FixedCell(nn.Module):
    """A frozen cell: fixed wiring and one op per term. Holds no decision.

    ``state_dict`` keys: ``preprocessor.*``, ``ops.{node}.{term}.*`` (node counted from 0),
    ``postprocessor.*``.
    """

    def __init__(
        self,
        ops: Sequence[Sequence[nn.Module]],
        inputs: Sequence[Sequence[int]],
        num_predecessors: int,
        merge_op: str = "all",
        *,
        preprocessor: nn.Module | None = None,
        postprocessor: nn.Module | None = None,
        concat_dim: int = 1,
        merge: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.preprocessor = preprocessor
        self.merge = merge
        self.ops = nn.ModuleList(nn.ModuleList(node_ops) for node_ops in ops)
        self.postprocessor = postprocessor
        self.inputs = [list(i) for i in inputs]
        self.num_predecessors = num_predecessors
        self.merge_op = merge_op
        self.concat_dim = concat_dim
        n = num_predecessors + len(self.inputs)
        if merge_op == "all":
            self.output_nodes = list(range(num_predecessors, n))
        else:
            used = {i for node_inputs in self.inputs for i in node_inputs}
            self.output_nodes = [i for i in range(num_predecessors, n) if i not in used]

    def forward(self, *inputs: Any) -> torch.Tensor:
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        if len(inputs) != self.num_predecessors:
            raise ValueError(f"this cell takes {self.num_predecessors} inputs, got {len(inputs)}")
        states = list(self.preprocessor(list(inputs))) if self.preprocessor is not None else list(inputs)
        for node_ops, node_inputs in zip(self.ops, self.inputs):
            assert isinstance(node_ops, nn.ModuleList)
            terms = [op(states[i]) for op, i in zip(node_ops, node_inputs)]
            states.append(terms[0] if len(terms) == 1 else torch.stack(terms).sum(0))
        chosen = [states[i] for i in self.output_nodes]
        out = self.merge(chosen) if self.merge is not None else torch.cat(chosen, dim=self.concat_dim)
        if self.postprocessor is not None:
            out = self.postprocessor(out, list(inputs))
        return out

    def extra_repr(self) -> str:
        return f"inputs={self.inputs}, output_nodes={self.output_nodes}"


__all__ = ["Cell", "Concatenate", "FixedCell"]
