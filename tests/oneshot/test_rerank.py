"""The stand-alone re-check of a one-shot search's best candidates (``rerank=k``).

The mechanism exactly (the training is NB201's recipe step for step, the ranking is by the
metric with ties in the supernet's order, the answer is the re-check's best; the candidates are
SPOS's evolution top, ENAS's final draws by reward, else the k most probable architectures), the
outcome on real data (a candidate that cannot see its input loses to one that can, whatever the
supernet said), bad settings, and every hub space."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.data.readers import digits
from archspace.errors import InvalidValueError
from archspace.hub import HUB
from archspace.oneshot import ENAS, ONESHOT, SPOS
from archspace.oneshot._reward import reward_metric
from archspace.oneshot.drnas import dirichlet_mean
from archspace.oneshot.rerank import StandaloneRerank, rerank, train_standalone
from archspace.testing import SharedNet
from archspace.testing.oneshot_contracts import one_thread, oneshot_form, tiny_batches

Batches = list[tuple[torch.Tensor, torch.Tensor]]
EVOLUTION = {"population": 6, "select": 4, "mutation": 2, "crossover": 2, "generations": 2}


class Blind(nn.Module):
    """A stem that cannot see its input: zeros of a conv's output shape."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.out_channels, x.shape[2], x.shape[3])


class SeeingSpace(asp.ModelSpace):
    """A stem that sees its input (a conv) or does not (zeros), then a head: on digits the blind
    candidate can do no better than the most frequent class (~10 %), the seeing one ~90 %."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = asp.LayerChoice({"conv": asp.nn.Conv2d(1, 16, 3, padding=1), "blind": Blind(16)}, label="stem")
        self.norm = asp.nn.BatchNorm2d(16)
        self.width = asp.choice("head", [16, 32])
        self.hidden = asp.nn.Linear(16 * 8 * 8, self.width)
        self.out = asp.nn.Linear(self.width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.stem(x))).flatten(1)
        return self.out(torch.relu(self.hidden(h)))


def _digits(size: int = 64) -> tuple[Batches, Batches]:
    (x, y), (xv, yv) = digits()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train = [(x[order[i:i + size]], y[order[i:i + size]]) for i in range(0, len(x) - size + 1, size)]
    return train, [(xv, yv)]


def test_standalone_training_is_nesterov_sgd_annealed_per_batch_from_the_seeded_weights() -> None:
    """The mechanism, step for step: the same seed's fresh weights, the same batches, SGD with
    Nesterov momentum and weight decay, the learning rate cosine-annealed per batch to 0."""
    train, _ = _digits()
    train = train[:5]
    settings = StandaloneRerank(top=1, epochs=2, learning_rate=0.05, momentum=0.9, weight_decay=1e-3, seed=7)
    sample = {"stem": "conv", "head": 32}
    with one_thread():
        model = train_standalone(SeeingSpace(), sample, train, settings=settings, loss_fn=nn.functional.cross_entropy)
        space = SeeingSpace()
        torch.manual_seed(7)
        twin = space.freeze(sample)
        opt = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
        steps, rates = 10, []
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(2):
            twin.train()
            for x, y in train:
                rates.append(opt.param_groups[0]["lr"])
                opt.zero_grad()
                nn.functional.cross_entropy(twin(x), y).backward()
                opt.step()
                schedule.step()
    assert rates[0] == 0.05 and rates[-1] < 0.05 * 0.03 and rates == sorted(rates, reverse=True)
    assert not model.training
    mine, theirs = model.state_dict(), twin.state_dict()
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert torch.allclose(mine[key].float(), theirs[key].float(), atol=1e-6), key


def test_the_ranking_is_by_the_metric_with_ties_in_the_supernets_order() -> None:
    """A metric that reads the architecture off the model: the re-check orders by it, best first,
    keeps the supernet's order among equal scores, trains only the first ``top``, and reports
    every score as it goes."""
    train, val = _digits()
    candidates: list[tuple[dict[str, Any], float]] = [
        ({"stem": "blind", "head": 16}, 0.9), ({"stem": "conv", "head": 16}, 0.8),
        ({"stem": "blind", "head": 32}, 0.7), ({"stem": "conv", "head": 32}, 0.6), ({"stem": "conv", "head": 32}, 0.5)]

    def metric(model: nn.Module, batches: Any) -> float:  # by the head's width only: the conv ones tie
        return float(model.out.in_features)

    seen: list[tuple[dict[str, Any], float, float]] = []
    settings = StandaloneRerank(top=4, epochs=1, batches_per_epoch=1, seed=0)
    space = SeeingSpace()
    state = torch.random.get_rng_state()
    result = rerank(space, candidates, train, val, settings=settings, loss_fn=nn.functional.cross_entropy,
                    metric=metric, on_score=lambda s, a, i: seen.append((s, a, i)))
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random stream is left alone
    assert [(s, a, i) for s, a, i in result.ranked] == [
        ({"stem": "blind", "head": 32}, 32.0, 0.7), ({"stem": "conv", "head": 32}, 32.0, 0.6),
        ({"stem": "blind", "head": 16}, 16.0, 0.9), ({"stem": "conv", "head": 16}, 16.0, 0.8)]
    assert [i for _, _, i in seen] == [0.9, 0.8, 0.7, 0.6]  # the first four, in order; the fifth not trained
    assert result.best == {"stem": "blind", "head": 32} and result.best_score == 32.0 and result.seconds > 0


def test_batches_per_epoch_bounds_the_training_and_data_without_a_length_works() -> None:
    train, val = _digits()

    class Stream:  # re-iterable, no len(): a loader wrapper such as an experiment's epoch batches
        def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            return iter(train)

    calls: list[int] = []

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(len(target))
        return nn.functional.cross_entropy(output, target)

    settings = StandaloneRerank(top=1, epochs=3, batches_per_epoch=4, seed=0)
    train_standalone(SeeingSpace(), {"stem": "conv", "head": 16}, Stream(), settings=settings, loss_fn=loss)
    assert len(calls) == 12
    calls.clear()
    train_standalone(SeeingSpace(), {"stem": "conv", "head": 16}, Stream(), settings=StandaloneRerank(epochs=1, seed=0),
                     loss_fn=loss)
    assert len(calls) == len(train)
    with pytest.raises(InvalidValueError, match="empty"):
        train_standalone(SeeingSpace(), {"stem": "conv", "head": 16}, [], settings=settings, loss_fn=loss)


def test_batch_size_recuts_the_pooled_examples_reshuffled_each_epoch_by_the_seed() -> None:
    """``batch_size``, exactly: the examples of the given batches (the first ``batches_per_epoch``
    of them) pooled in order, each epoch a fresh permutation from a generator seeded with the
    re-check's seed, cut ``batch_size`` at a time (the last batch short), the learning rate
    annealed over those batches; every candidate sees the same orders."""
    train, _ = _digits(size=50)
    train = train[:6]  # 300 examples given as six batches of 50
    settings = StandaloneRerank(top=1, epochs=2, learning_rate=0.05, momentum=0.9, weight_decay=1e-3, seed=3,
                                batch_size=128, batches_per_epoch=5)  # 250 pooled: 128 + 122 per epoch
    sample = {"stem": "conv", "head": 16}
    sizes: list[int] = []

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        sizes.append(len(target))
        return nn.functional.cross_entropy(output, target)

    with one_thread():
        model = train_standalone(SeeingSpace(), sample, train, settings=settings, loss_fn=loss)
        x = torch.cat([b[0] for b in train[:5]])
        y = torch.cat([b[1] for b in train[:5]])
        space = SeeingSpace()
        torch.manual_seed(3)
        twin = space.freeze(sample)
        opt = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 4)
        shuffler = torch.Generator().manual_seed(3)
        for _ in range(2):
            twin.train()
            order = torch.randperm(250, generator=shuffler)
            for i in range(0, 250, 128):
                opt.zero_grad()
                nn.functional.cross_entropy(twin(x[order[i:i + 128]]), y[order[i:i + 128]]).backward()
                opt.step()
                schedule.step()
    assert sizes == [128, 122, 128, 122]
    mine, theirs = model.state_dict(), twin.state_dict()
    for key in mine:
        assert torch.allclose(mine[key].float(), theirs[key].float(), atol=1e-6), key
    # the same orders for every candidate: rerank pools once, and two trainings of one sample agree
    seen: list[torch.Tensor] = []

    def spy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seen.append(target.clone())
        return nn.functional.cross_entropy(output, target)

    rerank(SeeingSpace(), [(sample, 0.9), ({"stem": "blind", "head": 32}, 0.8)], train, train,
           settings=replace(settings, top=2), loss_fn=spy, metric=lambda model, batches: 0.0)
    assert len(seen) == 8 and all(torch.equal(a, b) for a, b in zip(seen[:4], seen[4:]))
    assert not torch.equal(seen[0], y[:128])  # shuffled, not the pooled order


def test_batch_size_needs_batches_it_can_pool() -> None:
    ragged = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))), (torch.randn(4, 1, 6, 6), torch.randint(0, 10, (4,)))]
    settings = StandaloneRerank(epochs=1, seed=0, batch_size=4)
    with pytest.raises(InvalidValueError, match="pools the training batches' examples.*leave batch_size None"):
        train_standalone(SeeingSpace(), {"stem": "conv", "head": 16}, ragged, settings=settings,
                         loss_fn=nn.functional.cross_entropy)
    with pytest.raises(InvalidValueError, match="empty"):
        train_standalone(SeeingSpace(), {"stem": "conv", "head": 16}, [], settings=settings,
                         loss_fn=nn.functional.cross_entropy)


def test_repeats_train_each_candidate_under_consecutive_seeds_and_rank_by_the_mean() -> None:
    """``repeats=3``, exactly: each candidate's repeat scores are what single re-checks under the
    seeds 4, 5 and 6 give it (its weights and, with ``batch_size``, its shuffling), its score is
    their mean, and the ranking is by that mean; the seeds differ, so the repeats do."""
    train, val = _digits(32)
    candidates: list[tuple[dict[str, Any], float]] = [({"stem": "conv", "head": 16}, 0.9),
                                                      ({"stem": "conv", "head": 32}, 0.8)]
    metric = reward_metric(nn.functional.cross_entropy)
    base = StandaloneRerank(top=2, epochs=1, batches_per_epoch=6, batch_size=16, seed=4)
    with one_thread():
        result = rerank(SeeingSpace(), candidates, train, val, settings=replace(base, repeats=3),
                        loss_fn=nn.functional.cross_entropy, metric=metric)
        singles = [rerank(SeeingSpace(), candidates, train, val, settings=replace(base, seed=seed),
                          loss_fn=nn.functional.cross_entropy, metric=metric) for seed in (4, 5, 6)]
    by_seed = [{s["head"]: a for s, a, _ in single.ranked} for single in singles]
    expected = {head: tuple(scores[head] for scores in by_seed) for head in (16, 32)}
    assert {s["head"]: r for (s, _, _), r in zip(result.ranked, result.repeat_scores)} == expected
    assert len(set(expected[16])) == 3 and len(set(expected[32])) == 3  # the seeds give different trainings
    means = {head: sum(r) / 3 for head, r in expected.items()}
    assert [(s["head"], a) for s, a, _ in result.ranked] == sorted(means.items(), key=lambda kv: -kv[1])
    assert [i for _, _, i in result.ranked] == [0.9 if s["head"] == 16 else 0.8 for s, _, _ in result.ranked]


def test_the_recheck_overrules_a_supernet_that_ranked_a_blind_candidate_first() -> None:
    """The outcome on real data, clear of noise: the supernet's order says the blind stems are
    best; trained alone for two epochs they stay at chance (at most the largest class share, ~11 %)
    while the seeing ones pass 60 %, so the answer is a seeing one."""
    train, val = _digits()
    candidates: list[tuple[dict[str, Any], float]] = [
        ({"stem": "blind", "head": 32}, 0.95), ({"stem": "blind", "head": 16}, 0.94),
        ({"stem": "conv", "head": 16}, 0.50), ({"stem": "conv", "head": 32}, 0.40)]
    settings = StandaloneRerank(top=4, epochs=2, seed=0)
    with one_thread():
        result = rerank(SeeingSpace(), candidates, train, val, settings=settings, loss_fn=nn.functional.cross_entropy,
                        metric=reward_metric(nn.functional.cross_entropy))
    scores = {(s["stem"], s["head"]): a for s, a, _ in result.ranked}
    assert result.best["stem"] == "conv", scores
    assert max(scores[("blind", 16)], scores[("blind", 32)]) < 0.15 < 0.6 < min(scores[("conv", 16)], scores[("conv", 32)]), scores


def test_spos_answers_with_the_rechecks_best_of_the_evolutions_top() -> None:
    torch.manual_seed(0)
    data = [(torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))) for _ in range(3)]
    trainer = SPOS(epochs=1, progress=False, seed=2, evolution=EVOLUTION, rerank={"top": 3, "epochs": 1})
    with one_thread():
        answer = trainer.fit(SharedNet(), data, data)
    assert trainer.search_result is not None and trainer.rerank_result is not None
    assert trainer.rerank is not None and trainer.rerank.seed == 2  # the trainer's seed by default
    ranked = trainer.rerank_result.ranked
    key = lambda item: json.dumps(item, sort_keys=True)  # noqa: E731
    best_scored = sorted(trainer.search_result.scored, key=lambda item: -item[1])
    expected = trainer.distinct_networks(best_scored, data, 3)  # the 3 best different networks
    assert sorted(([s, i] for s, _, i in ranked), key=key) == sorted(([s, i] for s, i in expected), key=key)
    assert answer == ranked[0][0] == trainer.export() == trainer.supernet.export()
    assert trainer.answer_score == ranked[0][1] == max(a for _, a, _ in ranked)
    assert dict(trainer.answer_details) == {
        "standalone_score": ranked[0][1], "supernet_score": ranked[0][2], "reranked": 3,
        "rerank_source": "the evolution's best (inherited-weight score)", "selected_by": "standalone rerank",
        "supernet_pick_rank": [s for s, _ in expected].index(answer)}
    again = SPOS(epochs=1, progress=False, seed=2, evolution=EVOLUTION, rerank={"top": 3, "epochs": 1})
    with one_thread():
        assert again.fit(SharedNet(), data, data) == answer
    assert again.rerank_result is not None and again.rerank_result.ranked == ranked  # one seed, one result
    plain = SPOS(epochs=1, progress=False, seed=2, evolution=EVOLUTION)
    with one_thread():
        plain.fit(SharedNet(), data, data)
    assert plain.rerank_result is None and dict(plain.answer_details) == {}


@pytest.mark.parametrize("rerank, match", [
    ({"tops": 3}, r"\['tops'\] are unknown; the settings are \['batch_size', 'batches_per_epoch', 'epochs'"),
    ("3", "the number of candidates to re-check, a StandaloneRerank, a dict"),
    ({"top": 2, "epochs": 0}, "epochs must be an int >= 1, got 0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0"),
    ({"momentum": -0.5}, "momentum must be a finite number >= 0"),
    ({"batches_per_epoch": 0}, "batches_per_epoch must be an int >= 1 or None"),
    ({"seed": 1.5}, "seed must be an int or None"),
    ({"batch_size": 0}, "batch_size must be an int >= 1 .* or None"),
    ({"batch_size": True}, "batch_size must be an int >= 1"),
    ({"repeats": 0}, r"repeats must be an int >= 1 \(trainings per candidate, scores averaged\), got 0"),
    ({"repeats": 2.0}, "repeats must be an int >= 1"),
])
def test_bad_rerank_settings_say_what_is_allowed(rerank: Any, match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        SPOS(evolution=EVOLUTION, rerank=rerank)


def test_rerank_needs_an_evolution_and_off_means_off() -> None:
    with pytest.raises(InvalidValueError, match="needs an evolution"):
        SPOS(evolution=False, rerank=3)
    for off in (None, 0, False):
        assert SPOS(evolution=EVOLUTION, rerank=off).rerank is None


@pytest.mark.parametrize("space", sorted(HUB))
def test_every_hub_space_trains_alone_for_the_recheck(space: str) -> None:
    """Each hub space's small form: two sampled candidates re-checked on one tiny batch train and
    score (finite scores, or -inf for one that diverged; never an exception)."""
    factory = oneshot_form(space)
    torch.manual_seed(0)
    small = factory()
    inputs = small.example_input() if hasattr(small, "example_input") else torch.randn(2, 3, 32, 32)
    batches = tiny_batches(inputs, 10, 2)

    def loss(output: Any, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(output[0] if isinstance(output, (tuple, list)) else output, target)

    candidates = [(small.random_sample(seed), 0.5 - seed / 10) for seed in range(2)]
    with one_thread():
        result = rerank(small, candidates, batches[:1], batches[1:], settings=StandaloneRerank(top=2, epochs=1, seed=0),
                        loss_fn=loss, metric=reward_metric(loss))
    assert len(result.ranked) == 2 and all(score == score for _, score, _ in result.ranked)


def _brute_force_order(trainer: Any) -> list[tuple[dict[str, Any], float]]:
    import itertools

    arch = trainer.supernet.arch
    labels = list(arch.names)
    logp = {label: torch.log(trainer.candidate_probabilities(label)).tolist() for label in labels}
    rows = []
    for combo in itertools.product(*(range(len(arch.names[label])) for label in labels)):
        rows.append(({label: arch.names[label][i] for label, i in zip(labels, combo)},
                     sum(logp[label][i] for label, i in zip(labels, combo))))
    return sorted(rows, key=lambda row: -row[1])


@pytest.mark.parametrize("name", ["darts", "drnas"])
def test_likely_samples_are_the_exact_k_best_under_the_trained_distribution(name: str) -> None:
    """The most probable architectures, exactly: against every assignment enumerated and sorted
    by its log-probability (softmax of the logits; DrNAS: the Dirichlet mean of elu(x) + 1)."""
    trainer = ONESHOT.create(name, epochs=1, progress=False)
    trainer.build(SharedNet())
    arch = trainer.supernet.arch
    with torch.no_grad():
        for i, label in enumerate(arch.names):
            arch.logits(label).copy_(torch.linspace(-1.0, 0.7 + i, len(arch.names[label])))
    if name == "drnas":
        assert torch.allclose(trainer.candidate_probabilities("act"), dirichlet_mean(arch.logits("act").double()))
    expected = _brute_force_order(trainer)
    got = trainer.likely_samples(len(expected) + 3)  # asking for more than there are gives them all
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert [lp for _, lp in got] == pytest.approx([lp for _, lp in expected])
    assert got[0][0] == trainer.supernet.export()
    assert trainer.likely_samples(2) == got[:2]


def test_enas_rechecks_its_distinct_final_draws_best_reward_first() -> None:
    torch.manual_seed(0)
    data = [(torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))) for _ in range(3)]
    trainer = ENAS(epochs=1, progress=False, seed=1, final_draws=6, tanh_constant=None, rerank=3)
    with one_thread():
        answer = trainer.fit(SharedNet(), data, data)
    finals = trainer.final_scores
    assert len({json.dumps(s, sort_keys=True) for s, _ in finals}) == len(finals)
    assert [r for _, r in finals] == sorted((r for _, r in finals), reverse=True)
    assert trainer.rerank_result is not None
    rechecked = sorted((json.dumps(s, sort_keys=True), i) for s, _, i in trainer.rerank_result.ranked)
    assert rechecked == sorted((json.dumps(s, sort_keys=True), r) for s, r in finals[:3])  # the three best draws
    assert answer == trainer.rerank_result.best == trainer.export()


@pytest.mark.parametrize("space", sorted(HUB))
def test_likely_samples_are_valid_distinct_architectures_on_every_hub_space(space: str) -> None:
    """On spaces with cells (wiring derived by the DARTS rule), nested and shared decisions: the
    k most probable are valid, distinct samples, the first the supernet's export, in falling
    log-probability."""
    trainer = ONESHOT.create("darts", epochs=1, progress=False)
    torch.manual_seed(0)
    trainer.build(oneshot_form(space)())
    with torch.no_grad():
        for p in trainer.supernet.arch_parameters():
            p.normal_()
    got = trainer.likely_samples(4)
    small = trainer.supernet.space[0]
    assert got[0][0] == trainer.supernet.export()
    assert all(small.validate(s) == s for s, _ in got)
    assert len({json.dumps(s, sort_keys=True) for s, _ in got}) == len(got) >= min(4, len(got))
    assert [lp for _, lp in got] == sorted((lp for _, lp in got), reverse=True)
    assert len(got) == 4
    before = [p.detach().clone() for p in trainer.supernet.arch_parameters()]
    trainer.likely_samples(3)
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.supernet.arch_parameters()))  # restored


class DeadBranch(asp.ModelSpace):
    """``spare`` is a decision no forward pass reads: its values are one network."""

    def __init__(self) -> None:
        super().__init__()
        self.body = asp.LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label="act")
        self.spare = asp.LayerChoice({"a": nn.Identity(), "b": nn.Sigmoid()}, label="spare")
        self.head = asp.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.flatten(1)))


def test_label_assignments_of_one_network_are_rechecked_once() -> None:
    """Candidates that differ only on a decision nothing reads are one network: the re-check
    keeps the first of them and goes on down the list for the next different network."""
    trainer = ONESHOT.create("darts", epochs=1, progress=False, rerank=2)
    trainer.build(DeadBranch())
    val = [(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,)))]
    pool = [({"act": "relu", "spare": "a"}, 0.9), ({"act": "relu", "spare": "b"}, 0.8),
            ({"act": "tanh", "spare": "b"}, 0.7), ({"act": "tanh", "spare": "a"}, 0.6)]
    assert trainer.distinct_networks(pool, val, 2) == [pool[0], pool[2]]
    assert trainer.distinct_networks(pool, val, 5) == [pool[0], pool[2]]
    assert trainer.distinct_networks(pool, [], 3) == pool[:3]  # no batch to tell them apart: as given
    data = [(torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))) for _ in range(2)]
    with one_thread():
        trainer.fit(DeadBranch(), data, data)
    assert trainer.rerank_result is not None
    assert sorted(s["act"] for s, _, _ in trainer.rerank_result.ranked) == ["relu", "tanh"]


class ManyDeadBranches(asp.ModelSpace):
    """One decision the forward pass reads and five it does not (3^5 label assignments per network)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = asp.LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label="act")
        self.spares = nn.ModuleList(
            asp.LayerChoice({"a": nn.Identity(), "b": nn.Sigmoid(), "c": nn.Tanh()}, label=f"spare{i}")
            for i in range(5))
        self.head = asp.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.flatten(1)))


def test_recheck_looks_deeper_when_the_likely_candidates_are_one_network() -> None:
    """A distribution sharp on the decision that matters and uniform on the ones nothing reads
    (GDAS on Fashion-201): the 20 x top most likely assignments are all one network, so the
    re-check looks 200 x top deep and finds the runner-up network (the 244th assignment)."""
    trainer = ONESHOT.create("darts", epochs=1, progress=False,
                             rerank={"top": 2, "epochs": 1, "batches_per_epoch": 1})
    trainer.build(ManyDeadBranches())
    with torch.no_grad():
        for i in range(5):  # near-uniform (exact ties would export one sample)
            trainer.supernet.arch.logits(f"spare{i}").copy_(torch.tensor([0.0, -0.01, -0.02]))
        trainer.supernet.arch.logits("act").copy_(torch.tensor([0.0, -5.0]))
    assert {s["act"] for s, _ in trainer.likely_samples(40)} == {"relu"}  # the first pool: one network
    data = [(torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,)))]
    with one_thread():
        trainer.recheck(trainer.supernet.export(), data, data, loss_fn=nn.functional.cross_entropy)
    assert trainer.rerank_result is not None
    assert sorted(s["act"] for s, _, _ in trainer.rerank_result.ranked) == ["relu", "tanh"]


def test_isomorphic_nb201_cells_are_rechecked_once_by_the_spaces_equivalence_key() -> None:
    """Two NB201 cells that sum a 3x3 and a 1x1 conv of the input, the 3x3 through node 1 or
    straight to the output: with the supernet's weights they compute different functions (each
    edge has its own convs), so
    only the space's equivalence key (NB201's isomorphism class) tells the re-check they are one
    network; a space without a key keeps both."""
    from archspace.hub.nasbench201 import NasBench201, from_arch_str

    twin_a = from_arch_str("|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|skip_connect~1|none~2|")
    twin_b = from_arch_str("|nor_conv_1x1~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|none~2|")
    other = from_arch_str("|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|skip_connect~1|none~2|")
    pool = [(twin_a, 0.9), (twin_b, 0.8), (other, 0.7)]
    torch.manual_seed(0)
    val = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    trainer = ONESHOT.create("spos", epochs=1, progress=False, evolution=False)
    trainer.build(NasBench201.small())
    assert trainer.supernet.space[0].equivalence_key(twin_a) == trainer.supernet.space[0].equivalence_key(twin_b)
    assert trainer.distinct_networks(pool, val, 3) == [pool[0], pool[2]]
    assert trainer.distinct_networks(pool, [], 3) == [pool[0], pool[2]]  # no batch: the key alone
    assert trainer.supernet.space[0].equivalence_key({"edge_1_0": "none"}) is None  # not a whole cell

    class Unkeyed(NasBench201):
        def equivalence_key(self, sample: Any) -> Any:
            return None

    torch.manual_seed(0)
    plain = ONESHOT.create("spos", epochs=1, progress=False, evolution=False)
    plain.build(Unkeyed(channels=4, num_cells=1))
    assert plain.distinct_networks(pool, val, 3) == pool  # the probe alone: three functions


def test_a_search_forms_candidates_are_trained_in_the_stand_alone_form_without_touching_the_callers_stream() -> None:
    """NB201's search form (non-affine cell batch norms) re-checks its candidates exactly as the
    stand-alone form trains them — the table's training — and building that form draws no
    numbers from the caller's random stream."""
    from archspace.hub import NasBench201

    search, alone = NasBench201(channels=4, num_cells=1, search=True), NasBench201(channels=4, num_cells=1)
    inputs = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    targets = torch.arange(16) % 10
    train = [(inputs[:8], targets[:8]), (inputs[8:], targets[8:])]
    sample = search.random_sample(1)
    settings = StandaloneRerank(top=1, epochs=1, seed=5)
    with one_thread():
        torch.manual_seed(123)
        state = torch.get_rng_state()
        from_search = train_standalone(search, sample, train, settings=settings, loss_fn=nn.functional.cross_entropy)
        assert torch.equal(torch.get_rng_state(), state)
        from_alone = train_standalone(alone, sample, train, settings=settings, loss_fn=nn.functional.cross_entropy)
    assert all(m.affine for m in from_search.modules() if isinstance(m, nn.BatchNorm2d))
    mine, theirs = from_search.state_dict(), from_alone.state_dict()
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert torch.equal(mine[key], theirs[key]), key
    result = rerank(search, [(sample, 0.0)], train, train[:1], settings=settings, loss_fn=nn.functional.cross_entropy,
                    metric=reward_metric(nn.functional.cross_entropy))
    assert result.ranked[0][0] == dict(sample)
