"""DARTS-PT — Wang, Cheng, Chen, Tang & Hsieh, "Rethinking Architecture Selection in
Differentiable NAS", ICLR 2021.

DARTS trains its supernet well enough; what fails, the paper argues, is reading the answer off the
logits: a large ``alpha`` does not mean the op matters to the supernet (skip connections gain
logit mass whatever their use, which is DARTS's collapse). DARTS-PT keeps DARTS's search and
replaces the selection by **perturbation**: an op's importance is how much the supernet's
validation accuracy drops when that op alone is taken out of its decision's mix.

1. Train the supernet as DARTS does (first order; ``fix_alpha=True``: with the logits left at
   their initial, near-uniform values — the paper's "DARTS-PT (fix α)", a uniform-mixture
   supernet and no architecture step at all).
2. Fine-tune it while projecting one decision at a time: for the next decision (in a random
   order), evaluate the supernet on the validation data once per candidate with that candidate
   removed — its weight set to 0, the others' softmax weights unchanged, not renormalised — and
   keep the candidate whose removal gives the **lowest** accuracy; the decision then runs that
   candidate alone (weight 1) from then on. Between two projections the supernet trains
   ``projection_interval`` epochs (weights at a tenth of the search's learning rate, constant,
   fresh momentum; DARTS's architecture steps go on for the decisions still open), so the rest
   of the network adapts to each discretisation before the next is measured. There are
   ``projection_interval * (projections - 1)`` such epochs (one projection per decision and
   per cell node to wire, step 3), with a projection at the start of
   every ``projection_interval``-th and of the last.
3. In a DARTS cell, after every edge's op, each node's wiring (the official ``project_edge``, in
   a random order of nodes): every incoming edge is removed in turn (its whole mix at weight 0)
   and the node keeps the ``num_ops_per_node`` inputs whose removal lowers the reward most; its
   other edges are cut (weight 0 from then on). Only nodes with more earlier states than terms
   have a choice.
4. The answer is every decision's projected candidate and every node's projected inputs (each
   with its edge's projected op, the strongest non-``none`` one as the DARTS rule takes).

Settings (the official ``nasbench201/train_search.py``, ``projection.py``,
``exp_scripts/darts-201.sh`` and ``darts-proj-201.sh``): the supernet 100 epochs of first-order
DARTS (weights SGD 0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, clip 5; logits Adam
3e-4, betas (0.5, 0.999), weight decay 1e-3 — this library's DARTS defaults), the edges in a
random order, accuracy as the criterion, ``proj_intv`` 5, the validation accuracy measured on
the whole validation split with batch norm in training mode (batch statistics, as in the official
``infer(..., eval=False)``). NAS-Bench-201 (searched on CIFAR-10): about 88 % CIFAR-10 test
accuracy against DARTS's collapse at 54.30 — the author's rerun of the official scripts gave
88.21 and 88.18 (seeds 0 and 1; ruocwang/darts-pt issue 6). The official NAS-Bench-201 supernet
(``search_model_darts_proj.py``) builds its cells' batch norms without a learned affine: search
``NasBench201(search=True)`` to match it (on Fashion-201 the same eight seeds' worst answer rose
from 76.3 % to 81.5 %, their mean from 81.3 % to 82.6 %).

Deviations:

- **Any space, one decision at a time.** Every decision with logits is projected in turn, then
  every cell node (cells sharing a label share their decisions and their projections). The
  official DARTS-space code (``sota/cnn/projection.py``) projects a normal-cell and a
  reduction-cell decision together at each step, so on that space this schedule has about twice
  its fine-tuning epochs, and there it anneals the fine-tuning learning rate by a cosine (its
  NAS-Bench-201 code, followed here, keeps it constant). Its node projection removes the least
  needed edge until two remain, re-scoring the rest each round on unchanged weights; that keeps
  the two whose removal hurts most, as here, up to ties (here: the lower source index).
- Criterion (``projection_criterion``): ``"accuracy"`` (the default) is the library's validation
  reward — top-1 accuracy for class logits (the paper's ``acc``), else the negated loss;
  ``"loss"`` is the official code's other choice (``--proj_crit loss``): keep the candidate whose
  removal raises the validation loss most. The loss moves with every example's confidence, not
  only with the examples whose top-1 flips, so close calls are decided by all of the validation
  data rather than a handful of images. Measured on Fashion-201 (README) it is worse than
  accuracy: it breaks the close calls toward pooling more often (4 seeds: 78.0 % against 82.3 %).
- With ``projection_interval=1`` the last projection is made after the last fine-tuning epoch
  (the official loop, with ``proj_intv`` 1, makes only ``decisions - 1`` projections and leaves
  the last decision to its argmax); ``projection_batches`` limits the evaluation to the first
  batches (None: all, the paper's).
- ``order=2`` is DARTS's second order during the supernet's training (the official NAS-Bench-201
  code is first order only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from types import MappingProxyType
from typing import Any

import torch
from torch import distributed as dist

from archspace.errors import ArchspaceError
from archspace.nn.space import ModelSpace
from archspace.oneshot._reward import accuracy_or_loss
from archspace.oneshot.buffers import kept_buffers
from archspace.oneshot.cell_mixed import MixedCell
from archspace.oneshot.darts import DARTS
from archspace.oneshot.distributed import is_distributed
from archspace.oneshot.loop import Batch, Constraint, LossFn
from archspace.oneshot.policy import Mix, Softmax, all_candidates
from archspace.oneshot.supernet import Supernet, to_supernet
from archspace.space.labels import edge_label
from archspace.space.samples import Sample


class Projection(Softmax):
    """DARTS's softmax with DARTS-PT's discretisations.

    A projected decision (``decided``: label -> candidate index) runs its candidate alone with
    weight 1; while a candidate is being perturbed (``removed``: (label, index)) it is left out of
    its decision's mix — exactly a weight of 0 — and the others keep their softmax weights.
    """

    def __init__(self) -> None:
        self.decided: dict[str, int] = {}
        #: (label, candidate index) left out of its mix, or (label, None): the whole decision out
        self.removed: tuple[str, int | None] | None = None
        #: decisions that contribute nothing any more (a cell's edges a topology projection cut)
        self.dropped: set[str] = set()

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        if label in self.dropped or self.removed == (label, None):  # the whole edge out: weight exactly 0
            return Mix((self.decided.get(label, int(logits.detach().argmax())),), logits.detach().new_zeros(1))
        chosen = self.decided.get(label)
        if chosen is not None:
            return Mix((chosen,), logits.detach().new_ones(1))
        weights = torch.softmax(logits, -1)
        if self.removed is not None and self.removed[0] == label:
            keep = [i for i in range(int(weights.shape[-1])) if i != self.removed[1]]
            return Mix(tuple(keep), weights[keep])
        return all_candidates(weights)

    def state_dict(self) -> dict[str, Any]:
        return {"decided": dict(self.decided), "dropped": sorted(self.dropped)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.decided = {str(k): int(v) for k, v in state.get("decided", {}).items()}
        self.dropped = {str(label) for label in state.get("dropped", [])}


#: what a projection scores a removal by (``DARTSPT(projection_criterion=...)``)
CRITERIA = ("accuracy", "loss")


def _whole(value: Any, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ArchspaceError(f"DARTSPT {name} must be an int >= {least}, got {value!r}")
    return value


class DARTSPT(DARTS):
    """DARTS-PT search (see the module docstring); the other arguments are :class:`DARTS`'s, with
    ``epochs`` the supernet's training before the projections.

    Args:
        projection_interval: fine-tuning epochs between two projections (the paper's 5 at 100
            search epochs); 0 projects every decision one after another at the end, without
            fine-tuning (faster, not the paper's).
        fix_alpha: train the supernet with its logits fixed at their initial values (no
            architecture step): the paper's "DARTS-PT (fix α)".
        projection_batches: evaluate each perturbation on the first this many validation batches
            (None: all of them, as the paper).
        tune_learning_rate: the weights' constant learning rate while fine-tuning (None: a tenth
            of ``learning_rate``, the official code's).
        projection_criterion: what a removal is scored by: ``"accuracy"`` (the paper's default;
            the negated loss where the output is not class logits) or ``"loss"`` (the official
            ``--proj_crit loss``: the negated validation loss). Either way the candidate whose
            removal lowers the score most is kept.

    Attributes:
        projections: one record per projection, in order: ``label``, ``epoch`` (the epoch it
            preceded; ``total_epochs`` for one made at the end), ``scores`` (the validation
            reward with each candidate removed, by candidate value) and ``chosen``; a cell node's
            wiring has ``kind`` "topology", ``label`` ``{cell}/node_{i}``, ``scores`` by source
            state (each incoming edge removed) and ``chosen`` (the kept source states).

    Example:
        >>> import torch
        >>> from archspace.oneshot import DARTSPT
        >>> from archspace.testing import SharedNet
        >>> data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))] * 2
        >>> trainer = DARTSPT(epochs=1, projection_interval=1, progress=False)
        >>> sorted(trainer.fit(SharedNet(), data, data))
        ['act', 'width']
        >>> len(trainer.projections)  # one per decision
        2
    """

    policy: Projection

    def __init__(self, *, projection_interval: int = 5, fix_alpha: bool = False,
                 projection_batches: int | None = None, tune_learning_rate: float | None = None,
                 projection_criterion: str = "accuracy", **kwargs: Any) -> None:
        _whole(projection_interval, "projection_interval", 0)
        if projection_batches is not None:
            _whole(projection_batches, "projection_batches", 1)
        if not isinstance(fix_alpha, bool):
            raise ArchspaceError(f"DARTSPT fix_alpha must be True or False, got {fix_alpha!r}")
        if tune_learning_rate is not None and (isinstance(tune_learning_rate, bool)
                                               or not isinstance(tune_learning_rate, (int, float))
                                               or not tune_learning_rate > 0):
            raise ArchspaceError(f"DARTSPT tune_learning_rate must be a number > 0 or None, got {tune_learning_rate!r}")
        if projection_criterion not in CRITERIA:
            raise ArchspaceError(f"DARTSPT projection_criterion must be one of {', '.join(map(repr, CRITERIA))}, "
                                 f"got {projection_criterion!r}")
        super().__init__(**kwargs)
        self.projection_interval = projection_interval
        self.fix_alpha = fix_alpha
        self.projection_batches = projection_batches
        self.projection_criterion = projection_criterion
        self.tune_learning_rate = tune_learning_rate if tune_learning_rate is not None else self.learning_rate / 10
        self.uses_validation = not fix_alpha  # the supernet's steps read no validation batch without one
        self.projections: list[dict[str, Any]] = []

    def make_policy(self) -> Projection:
        return Projection()

    def build(self, space: ModelSpace | Supernet, device: str | torch.device = "cpu") -> Supernet:
        supernet = super().build(space, device)
        labels = list(supernet.arch.names)
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(labels), generator=generator).tolist()
        self.projection_order = [labels[i] for i in order]  # the official random edge order, fixed by the seed
        nodes = _topology_nodes(supernet)
        order = torch.randperm(len(nodes), generator=generator).tolist()
        self.topology_order = [nodes[i] for i in order]  # then the nodes' inputs, in a random order too
        self.projections = []
        return supernet

    @property
    def total_epochs(self) -> int:
        """``epochs`` of supernet training, then ``projection_interval * (projections - 1)`` of
        fine-tuning between projections (``epochs`` until the supernet is built)."""
        supernet = getattr(self, "supernet", None)
        return self.epochs if supernet is None else self._length(_projection_count(supernet))

    def planned_epochs(self, space: ModelSpace | Supernet) -> int:
        """:attr:`total_epochs` on ``space`` before the search (its decisions counted on a supernet
        built for the purpose)."""
        supernet = space if isinstance(space, Supernet) else to_supernet(space)
        return self._length(_projection_count(supernet))

    def _length(self, projections: int) -> int:
        return self.epochs + self.projection_interval * max(projections - 1, 0)

    def projects_before(self, epoch: int) -> bool:
        """Whether a projection comes before ``epoch`` (0-based over :attr:`total_epochs`)."""
        t, k = epoch - self.epochs, self.projection_interval
        n = _projection_count(self.supernet)
        if t < 0 or n == 0 or k == 0:
            return False
        return (t % k == 0 and t // k <= n - 2) or (k > 1 and t == (n - 1) * k - 1)

    # The supernet's steps ---------------------------------------------------------------------------
    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        if self.fix_alpha or len(self.policy.decided) == len(self.supernet.arch.names):  # nothing left to move
            return {"train_loss": self.weight_step(train, loss_fn)}
        return super().step(train, val, loss_fn)

    def unrolled_backward(self, train: Batch, val: Batch, loss_fn: LossFn) -> torch.Tensor:
        """DARTS's second-order estimate, with no gradient for a projected decision: it sets one
        (of zeros) for every logit, and Adam would move a projected decision's logits on it (by its
        momentum and weight decay); without one Adam leaves them, as the first order does."""
        val_loss = super().unrolled_backward(train, val, loss_fn)
        for label in self.policy.decided:
            self.supernet.arch.logits(label).grad = None
        return val_loss

    def prepare_epoch(self, epoch: int, val_data: Iterable[Batch], *, loss_fn: LossFn,
                      device: str | torch.device) -> None:
        if epoch < self.epochs:
            return
        if epoch == self.epochs:  # fine-tuning starts: fresh momentum (the official code's new optimizer)
            self.weight_optimizer.state.clear()
        for group in self.weight_optimizer.param_groups:  # constant, whatever the cosine schedule did
            group["lr"] = self.tune_learning_rate
        if self.projects_before(epoch):
            self.project_next(val_data, loss_fn=loss_fn, device=device, epoch=epoch)

    # Projection -------------------------------------------------------------------------------------
    def perturbation_scores(self, label: str, val_data: Iterable[Batch], *, loss_fn: LossFn,
                            device: str | torch.device = "cpu") -> list[float]:
        """The supernet's validation reward with each candidate of ``label`` removed in turn.

        Under torchrun each rank scores its own shard and the sums are added across ranks, so
        every rank gets the reward over the whole validation data (and projects alike)."""
        removals: list[tuple[str, int | None]] = [(label, i) for i in range(len(self.supernet.arch.names[label]))]
        return self._rewards_without(removals, val_data, loss_fn=loss_fn, device=device)

    def topology_scores(self, cell: str, node: int, val_data: Iterable[Batch], *, loss_fn: LossFn,
                        device: str | torch.device = "cpu") -> list[float]:
        """The supernet's validation reward with each edge into ``node`` of the cells labelled
        ``cell`` removed in turn (the whole edge: its weight 0), one score per source state."""
        removals: list[tuple[str, int | None]] = [(edge_label(node, j, cell), None) for j in range(node)]
        return self._rewards_without(removals, val_data, loss_fn=loss_fn, device=device)

    def _rewards_without(self, removals: Sequence[tuple[str, int | None]], val_data: Iterable[Batch], *,
                         loss_fn: LossFn, device: str | torch.device) -> list[float]:
        """The validation reward with each of ``removals`` (see :attr:`Projection.removed`) in turn."""
        batches = list(val_data if self.projection_batches is None else islice(val_data, self.projection_batches))
        if not batches:
            raise ArchspaceError("DARTSPT needs validation batches to score its projections; the validation data is empty")
        self.supernet.train()  # batch statistics, as the official evaluation of a perturbation
        totals = torch.zeros(len(removals), 2, dtype=torch.float64)  # per removal: reward sum, examples
        with torch.no_grad(), kept_buffers(self.supernet):  # running statistics untouched
            for index, removal in enumerate(removals):
                self.policy.removed = removal
                try:
                    for x, y in batches:
                        x, y = x.to(device), y.to(device)
                        totals[index, 0] += self._reward(self.supernet(x), y, loss_fn) * len(y)
                        totals[index, 1] += len(y)
                finally:
                    self.policy.removed = None
        if is_distributed():
            reduced = totals.to(device)
            dist.all_reduce(reduced)
            totals = reduced.cpu()
        return (totals[:, 0] / totals[:, 1]).tolist()

    def _reward(self, output: Any, target: torch.Tensor, loss_fn: LossFn) -> float:
        """One batch's score of a perturbed supernet (higher: the removal hurt less)."""
        if self.projection_criterion == "loss":
            return -float(loss_fn(output, target))
        return accuracy_or_loss(output, target, loss_fn)

    def project_next(self, val_data: Iterable[Batch], *, loss_fn: LossFn, device: str | torch.device = "cpu",
                     epoch: int | None = None) -> str | None:
        """Project the next open decision (the one in :attr:`projection_order`): keep the candidate whose
        removal lowers the validation reward most (the first on ties). Returns its label, or
        None when every decision is projected."""
        label = next((name for name in self.projection_order if name not in self.policy.decided), None)
        if label is None:
            return self._project_topology(val_data, loss_fn=loss_fn, device=device, epoch=epoch)
        values = self.supernet.arch.names[label]
        scores = self.perturbation_scores(label, val_data, loss_fn=loss_fn, device=device) if len(values) > 1 else [0.0]
        chosen = min(range(len(scores)), key=scores.__getitem__)
        self.policy.decided[label] = chosen
        with torch.no_grad():  # the chosen candidate takes the largest logit: export() and a cell's rule see it
            logits = self.supernet.arch.logits(label)
            top = int(logits.argmax())
            logits[[top, chosen]] = logits[[chosen, top]]
        self.projections.append({"label": label, "epoch": self.epoch if epoch is None else epoch,
                                 "scores": {str(v): round(s, 6) for v, s in zip(values, scores)},
                                 "chosen": values[chosen]})
        return label

    def _project_topology(self, val_data: Iterable[Batch], *, loss_fn: LossFn, device: str | torch.device,
                          epoch: int | None) -> str | None:
        """Project the next node of :attr:`topology_order`: keep its ``num_ops_per_node`` inputs
        whose removal lowers the reward most (ties: the first sources), cut its other edges.
        Returns the record's label (``{cell}/node_{i}``), or None when every node is projected."""
        done = {p["label"] for p in self.projections if p.get("kind") == "topology"}
        todo = next(((cell, node) for cell, node in self.topology_order if f"{cell}/node_{node}" not in done), None)
        if todo is None:
            return None
        cell, node = todo
        cells = _cells(self.supernet)[cell]
        scores = self.topology_scores(cell, node, val_data, loss_fn=loss_fn, device=device)
        kept = sorted(sorted(range(node), key=scores.__getitem__)[:cells[0].num_ops_per_node])
        self.policy.dropped.update(edge_label(node, j, cell) for j in range(node) if j not in kept)
        for module in cells:
            module.fix_inputs(node, kept)
        label = f"{cell}/node_{node}"
        self.projections.append({"label": label, "kind": "topology", "epoch": self.epoch if epoch is None else epoch,
                                 "scores": {str(j): round(v, 6) for j, v in enumerate(scores)}, "chosen": kept})
        return label

    def select(self, train_data: Iterable[Batch], val_data: Iterable[Batch], *, loss_fn: LossFn,
               device: str | torch.device = "cpu", on_candidate: Any = None,
               known: Mapping[str, float] | None = None, constraint: Constraint | None = None) -> Sample:
        """Project the decisions still open (none with the full schedule but the last when
        ``projection_interval`` is 1), then the export of the projected supernet."""
        while self.project_next(val_data, loss_fn=loss_fn, device=device, epoch=self.epoch) is not None:
            pass
        self.answer_details = MappingProxyType({"selected_by": "perturbation", "projected": len(self.projections)})
        return self.supernet.export()

    # The stand-alone re-check -----------------------------------------------------------------------
    rerank_source = "the projections' scores (a candidate ranks by the validation reward lost without it)"

    def candidate_probabilities(self, label: str) -> torch.Tensor:
        """For a projected decision, a distribution ordering its candidates as its projection did:
        ``softmax(-100 * score)`` over the validation reward with each removed (for accuracy: one
        percentage point lost is one logit), so the re-check's runners-up are the close calls of
        the projections, not of the logits (which a projection only swapped, and which stay near
        uniform with ``fix_alpha``). Not in the paper, as the re-check is not."""
        record = next((p for p in self.projections if p["label"] == label), None)
        if record is None:
            return super().candidate_probabilities(label)
        scores = [record["scores"][str(value)] for value in self.supernet.arch.names[label]]
        return torch.softmax(-100.0 * torch.tensor(scores, dtype=torch.float64), -1)

    # Checkpoints --------------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"projections": [dict(p) for p in self.projections]}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.projections = [dict(p) for p in state.get("projections", [])]
        cells = _cells(self.supernet)
        for record in self.projections:  # the projected nodes' inputs (the policy restores the cut edges)
            if record.get("kind") == "topology":
                cell, node = record["label"].rsplit("/node_", 1)
                for module in cells[cell]:
                    module.fix_inputs(int(node), list(record["chosen"]))


def _cells(supernet: Supernet) -> dict[str, list[MixedCell]]:
    """The supernet's mixed cells by label (cells sharing a label share their decisions)."""
    found: dict[str, list[MixedCell]] = {}
    for module in supernet.net.modules():
        if isinstance(module, MixedCell):
            found.setdefault(module.label, []).append(module)
    return found


def _topology_nodes(supernet: Supernet) -> list[tuple[str, int]]:
    """(cell label, node) of every node with a choice of inputs: more earlier states than terms."""
    return [(label, node) for label, modules in _cells(supernet).items() for node in modules[0].node_indices
            if node > modules[0].num_ops_per_node]


def _projection_count(supernet: Supernet) -> int:
    """Projections of a search on ``supernet``: one per decision with logits, one per node to wire."""
    return len(supernet.arch.names) + len(_topology_nodes(supernet))


__all__ = ["DARTSPT", "Projection"]
