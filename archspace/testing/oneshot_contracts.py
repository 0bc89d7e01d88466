"""Contract checks every one-shot algorithm must pass on every hub space (and on yours).

The test suite runs :func:`check_oneshot` over every algorithm in
:data:`archspace.oneshot.ONESHOT` and every space in :data:`archspace.hub.HUB` (its small,
one-shot form, :func:`oneshot_form`), so a new algorithm joins by registering. Each check raises
``AssertionError`` with a message. Call them for your own algorithm or space::

    from archspace.testing.oneshot_contracts import check_oneshot
    check_oneshot("darts", MySpace, inputs=torch.randn(2, 3, 16, 16), num_classes=10)

``algorithm`` is a registered name or, for an algorithm not yet registered, its trainer class.

The checks: the space converts to a supernet that runs forward and backward; weights and
architecture parameters are disjoint and together are every parameter; a short search moves the
architecture parameters (if its policy is differentiable) and exports a sample that validates, survives a
JSON round trip and rebuilds with ``fixed_arch`` into a working model shaped like ``freeze``'s; a
search crashed after its first epoch and resumed from its checkpoint ends bit-identical to an
uninterrupted one (which also proves equal seeds give equal runs: the two runs build everything
anew); two gloo ranks (:func:`check_two_ranks_identical`) end identical.

Runs are tiny (one or two steps per epoch, two epochs) so the whole suite stays in seconds.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from archspace.nn.space import ModelSpace, fixed_arch
from archspace.oneshot import ONESHOT, OneShotTrainer
from archspace.space.samples import Sample

SpaceFactory = Callable[[], ModelSpace]
Batches = list[tuple[torch.Tensor, torch.Tensor]]


def oneshot_form(name: str) -> SpaceFactory:
    """The small form of hub space ``name`` for one-shot search (picklable, for other ranks):
    its ``small(oneshot=True)`` (:class:`~archspace.hub.HubSpace`), e.g. DARTS's search form with
    the ``none`` op and non-affine batch norm.
    """
    from archspace.hub import space_class

    return functools.partial(space_class(name).small, oneshot=True)


def tiny_batches(inputs: torch.Tensor, num_classes: int, count: int, seed: int = 0) -> Batches:
    """``count`` random batches shaped like ``inputs`` with labels below ``num_classes``."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(inputs.shape, generator=g), torch.randint(0, num_classes, (inputs.shape[0],), generator=g))
            for _ in range(count)]


Algorithm = str | Callable[..., OneShotTrainer]


#: Settings that keep the final selections of the contract runs short (the paper's SPOS evolution
#: scores up to 1,000 candidates): the contract checks the mechanism, not the search's quality.
QUICK_SELECTION: dict[str, dict[str, Any]] = {
    "spos": {"evolution": {"population": 4, "select": 2, "mutation": 1, "crossover": 1, "generations": 2},
             "calibration_batches": 1},
    "enas": {"final_draws": 2},
    "dartspt": {"projection_interval": 0},  # every projection at the end (the DARTS space has 28 decisions)
}


def _trainer(algorithm: Algorithm, epochs: int = 2) -> OneShotTrainer:
    """A registered algorithm by name, or an unregistered trainer class (e.g. one being written)."""
    if isinstance(algorithm, str):
        return ONESHOT.create(algorithm, epochs=epochs, seed=0, progress=False, **QUICK_SELECTION.get(algorithm, {}))
    return algorithm(epochs=epochs, seed=0, progress=False)


def _space(factory: SpaceFactory) -> ModelSpace:
    torch.manual_seed(0)  # the space's own initial weights, equal in every run
    return factory()


def _logits(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


def _loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(_logits(output), target)


def check_converts_and_runs(algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor) -> None:
    """The supernet runs forward (finite) and backward; weights and logits are disjoint sets."""
    supernet = _trainer(algorithm).build(_space(factory))
    supernet.train()
    out = _logits(supernet(inputs))
    assert bool(torch.isfinite(out).all()), f"{algorithm}: the supernet's output is not finite"
    out.float().pow(2).mean().backward()
    weights = {id(p) for p in supernet.weight_parameters()}
    arch = {id(p) for p in supernet.arch_parameters()}
    assert weights.isdisjoint(arch), f"{algorithm}: a parameter is both a weight and an architecture parameter"
    assert weights | arch == {id(p) for p in supernet.parameters()}, f"{algorithm}: a parameter is in neither set"
    assert any(p.grad is not None for p in supernet.weight_parameters()), f"{algorithm}: no weight got a gradient"


def check_search_exports(algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor, num_classes: int,
                         *, moves: bool = True) -> Sample:
    """A short search moves the logits (unless ``moves`` is False) and exports a sample that
    rebuilds with ``fixed_arch``.

    ``moves=False`` is for spaces of any shape: one step of an algorithm that samples paths
    (ProxylessNAS's two gates) may draw only paths whose outputs nothing reads, and then rightly
    moves nothing."""
    data = tiny_batches(inputs, num_classes, 2)
    trainer = _trainer(algorithm, epochs=1)
    supernet = trainer.build(_space(factory))
    initial = [p.detach().clone() for p in supernet.arch_parameters()]
    sample = trainer.fit(supernet, data[:1], data[1:])
    _check_export(algorithm, factory, inputs, trainer, initial, sample, moves=moves)
    return sample


def _check_export(algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor, trainer: OneShotTrainer,
                  initial: list[torch.Tensor], sample: Sample, *, moves: bool) -> None:
    """What :func:`check_search_exports` asserts of a finished search (``initial``: its
    architecture parameters before the search)."""
    final = list(trainer.supernet.arch_parameters())
    if moves and any(p.numel() > 1 for p in initial) and trainer.policy.differentiable:  # one value cannot move
        assert any(not torch.equal(a, b.detach()) for a, b in zip(initial, final)), (
            f"{algorithm}: the search never moved its architecture parameters")
    space = _space(factory)
    assert space.validate(sample) == sample, f"{algorithm}: the export is not a valid sample of the space"
    assert json.loads(json.dumps(sample)) == sample, f"{algorithm}: the export does not survive JSON"
    with fixed_arch(sample):
        built = factory()
    frozen = space.freeze(sample)
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in frozen.state_dict().items()}
    built.eval()
    with torch.no_grad():
        out = _logits(built(inputs))
    assert out.shape[0] == inputs.shape[0] and bool(torch.isfinite(out).all()), f"{algorithm}: the rebuilt model fails"


class _Crash(RuntimeError):
    """Raised after the first epoch's checkpoint, as a killed process would stop."""


def _crash(record: dict[str, Any]) -> None:
    raise _Crash(f"simulated crash after epoch {record['epoch']}")


def _state(trainer: OneShotTrainer) -> dict[str, torch.Tensor]:
    supernet = trainer.supernet
    return {**{f"param:{k}": v.detach() for k, v in supernet.named_parameters()},
            **{f"buffer:{k}": v for k, v in supernet.named_buffers()}}


def check_resume_is_bit_identical(algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor,
                                  num_classes: int, *, exports: bool = False, moves: bool = True) -> None:
    """Crashed after epoch 0 and resumed from the checkpoint: the same end as an unbroken run.

    With ``exports`` the unbroken run is also held to :func:`check_search_exports`'s checks
    (``moves`` as there), so a contract needs no separate search for them: on the DARTS space one
    search of DARTS-PT is ~250 supernet passes of projections."""
    data = tiny_batches(inputs, num_classes, 2, seed=1)
    train, val = data[:1], data[1:]  # one step per epoch: the state still crosses a checkpoint
    with tempfile.TemporaryDirectory() as tmp:
        # the architecture parameters the unbroken run starts from (its build, made alike by the seed)
        initial = [p.detach().clone() for p in _trainer(algorithm).build(_space(factory)).arch_parameters()]
        full = _trainer(algorithm)
        full_sample = full.fit(_space(factory), train, val, directory=Path(tmp, "full"))
        try:
            _trainer(algorithm).fit(_space(factory), train, val, directory=Path(tmp, "part"), on_epoch=_crash)
        except _Crash:
            pass
        else:  # pragma: no cover - the callback always raises
            raise AssertionError("the crash callback did not stop the search")
        resumed = _trainer(algorithm)
        sample = resumed.fit(_space(factory), train, val, directory=Path(tmp, "part"), resume=True)
    assert sample == full_sample, f"{algorithm}: the resumed search exports {sample}, the unbroken one {full_sample}"
    a, b = _state(full), _state(resumed)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{algorithm}: after resuming, these differ from an unbroken run: {differ[:5]}"
    if exports:
        _check_export(algorithm, factory, inputs, full, initial, full_sample, moves=moves)


def _rank_main(rank: int, algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor, num_classes: int,
               port: int, out: str) -> None:
    """One rank of :func:`check_two_ranks_identical`: its own data shard, its own initial weights."""
    from torch import distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        data = tiny_batches(inputs, num_classes, 4, seed=100 + rank)
        torch.manual_seed(rank)  # different initial weights per rank: rank 0's must win
        trainer = _trainer(algorithm)
        trainer.fit(factory(), data[:2], data[2:])
        torch.save(_state(trainer), Path(out, f"rank{rank}.pt"))
        dist.barrier()  # both ranks done before either tears gloo down (else a rank can abort in its threads)
    finally:
        dist.destroy_process_group()
    end_rank()


def end_rank() -> None:
    """Leave a finished rank process at once, past the interpreter's finalization.

    Gloo's worker threads can still hold objects with Python references when the interpreter
    finalizes; destroying them then aborts the process ("terminate called without an active
    exception", SIGABRT) now and then even after ``destroy_process_group`` — a crash after every
    result is written, which made the rank look failed. Call it last, once results are saved.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_two_ranks_identical(algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor, num_classes: int) -> None:
    """Two gloo processes, each on its own data and initial weights, end with identical state.

    ``factory`` (and ``algorithm`` when it is a class) must be picklable (a class, a module-level function or a ``functools.partial``).
    """
    import torch.multiprocessing as mp

    from archspace.experiment.executors.process import default_start_method, fork_server_fits, launch_fork_server

    method = default_start_method()  # ranks forked from a server that imported torch once, as workers are
    if method == "forkserver" and fork_server_fits():
        launch_fork_server()
    else:
        method = "spawn"
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(_rank_main, args=(algorithm, factory, inputs, num_classes, _free_port(), tmp),
                           nprocs=2, join=True, start_method=method)
        a, b = (torch.load(Path(tmp, f"rank{r}.pt"), weights_only=True) for r in (0, 1))
    assert a.keys() == b.keys() and any(k.startswith("param:arch.") for k in a)
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{algorithm}: the two ranks ended with different {differ[:5]}"


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread within the block: tiny supernets run many times faster so on a
    loaded machine (thread hand-offs cost more than the arithmetic), and results do not change."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_subnet_matches_the_path(algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor,
                                  num_classes: int) -> None:
    """After two training steps, ``subnet(answer)`` computes what the supernet computes on the
    answer's path (evaluation mode: running statistics, no sampling), for the answer and for a
    random sample of the space."""
    from archspace.oneshot.enas import ControllerPath

    data = tiny_batches(inputs, num_classes, 4, seed=2)
    trainer = _trainer(algorithm, epochs=1)
    answer = trainer.fit(_space(factory), data[:2], data[2:])
    supernet = trainer.supernet
    space = supernet.space[0]
    for sample in (answer, space.random_sample(0)):
        subnet = supernet.subnet(sample)
        subnet.eval()
        supernet.eval()
        with torch.no_grad(), supernet.using(ControllerPath(sample)):
            expected = _logits(supernet(inputs))
            got = _logits(subnet(inputs))
        assert torch.allclose(got, expected, atol=1e-5, rtol=1e-4), (
            f"{algorithm}: subnet({sample}) differs from the supernet on that path by "
            f"{float((got - expected).abs().max()):.3g}")


def check_oneshot(algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor, num_classes: int) -> None:
    """Every single-process check of one algorithm on one space (see the module docstring)."""
    with one_thread():
        check_converts_and_runs(algorithm, factory, inputs)
        check_resume_is_bit_identical(algorithm, factory, inputs, num_classes, exports=True)


def check_user_space(algorithm: Algorithm, factory: SpaceFactory, inputs: torch.Tensor, num_classes: int) -> None:
    """The contract every algorithm owes a space it was not written with: converts, trains forward
    and backward, exports a valid sample that rebuilds with ``fixed_arch``, extracts subnets equal
    to the supernet's paths, and resumes bit-identically from a checkpoint."""
    with one_thread():
        check_converts_and_runs(algorithm, factory, inputs)
        check_subnet_matches_the_path(algorithm, factory, inputs, num_classes)
        check_resume_is_bit_identical(algorithm, factory, inputs, num_classes, exports=True, moves=False)


__all__ = ["QUICK_SELECTION", "check_converts_and_runs", "check_subnet_matches_the_path", "check_user_space", "end_rank", "check_oneshot", "one_thread", "check_resume_is_bit_identical", "check_search_exports",
           "check_two_ranks_identical", "oneshot_form", "tiny_batches"]
