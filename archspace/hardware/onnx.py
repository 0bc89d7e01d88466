"""ONNX export of a frozen architecture, and running it with ONNX Runtime.

A searched architecture usually ends its life outside PyTorch: on a phone, in a server runtime,
in a latency measurement. :func:`export_onnx` writes any frozen model (or ``space.freeze(sample)``)
to an ONNX file in eval mode; :func:`onnx_session` opens it in ONNX Runtime with a fixed thread
count (so timings repeat); :func:`run_onnx` runs it; :func:`compare_onnx` checks that ONNX Runtime
answers what PyTorch answers, within a stated tolerance.

The export uses PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``):
the ``torch.export``-based one needs ``onnxscript``, which the ``onnx`` extra does not carry, and
the frozen models of archspace (``FixedCell``, ``ChosenInputs``: fixed Python wiring, no
data-dependent control flow) trace exactly. ``onnx`` and ``onnxruntime`` are an optional extra
(``pip install 'archspace[onnx]'``), imported only when one of these functions runs.

Example:
    >>> import torch
    >>> from archspace.hub import NasBench201
    >>> space = NasBench201.small()
    >>> model = space.freeze(space.default_sample())
    >>> path = export_onnx(model, getfixture("tmp_path") / "nb201.onnx", NasBench201.example_input(1))
    >>> compare_onnx(model, path, NasBench201.example_input(3)) < 1e-4
    True
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from archspace.errors import ArchspaceError, SpaceDefinitionError, short_repr
from archspace.nn.mutable import Mutable
from archspace.nn.space import ModelSpace

if TYPE_CHECKING:
    import onnxruntime  # type: ignore[import-untyped]

#: The ONNX opset written unless told otherwise (ONNX Runtime 1.17+ runs it; PyTorch exports it fully).
DEFAULT_OPSET = 17
#: Default tolerance of :func:`compare_onnx`: float32 kernels sum in different orders.
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5

Inputs = torch.Tensor | Sequence[torch.Tensor]


class OnnxError(ArchspaceError, RuntimeError):
    """A model cannot be exported to ONNX, or an ONNX file cannot be run as asked."""


class OnnxInputError(OnnxError, ValueError):
    """Inputs that do not fit the model (their number, shape or dtype); the message says what fits."""


class OnnxMismatchError(OnnxError):
    """ONNX Runtime's outputs differ from PyTorch's by more than the tolerance."""


class MissingExtraError(ArchspaceError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def _require() -> tuple[Any, Any]:
    """``(onnx, onnxruntime)``, imported now, or a MissingExtraError naming the extra."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise MissingExtraError(f"ONNX export needs onnx and onnxruntime ({exc.name or exc} is missing): "
                                "pip install 'archspace[onnx]'") from exc
    return onnx, onnxruntime


def _as_tuple(example_input: Any, what: str) -> tuple[torch.Tensor, ...]:
    items = (example_input,) if isinstance(example_input, torch.Tensor) else example_input
    if not isinstance(items, (tuple, list)) or not items or not all(isinstance(t, torch.Tensor) for t in items):
        raise OnnxInputError(f"{what} must be a tensor or a tuple of tensors, got {short_repr(example_input)}")
    return tuple(items)


def flatten_outputs(output: Any) -> list[torch.Tensor]:
    """The tensors of a forward's output in the order ONNX lists them (tuples, lists and dict values
    depth-first; ``None`` left out, as the exporter leaves it out)."""
    if output is None:
        return []
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in flatten_outputs(item)]
    raise OnnxError(f"the model's forward returned {type(output).__name__}; ONNX outputs must be tensors "
                    "(or tuples, lists or dicts of them)")


def _model_to_export(model_or_space: nn.Module, sample: Mapping[str, Any] | None) -> nn.Module:
    if isinstance(model_or_space, ModelSpace) and not model_or_space.is_frozen:
        if sample is None:
            raise SpaceDefinitionError("a model space is many networks, not one: pass sample=... "
                                       "(e.g. space.default_sample()) or a frozen model")
        return model_or_space.freeze(sample)
    if sample is not None:
        raise SpaceDefinitionError("sample= is only for a model space; this model is already frozen")
    open_decisions = [name or "<root>" for name, m in model_or_space.named_modules() if isinstance(m, Mutable)]
    if open_decisions:
        raise SpaceDefinitionError(f"the model still holds decisions (at {open_decisions[:5]}): freeze it first "
                                   "with space.freeze(sample) or build it under fixed_arch(sample)")
    return model_or_space


def _names(prefix: str, n: int) -> list[str]:
    return [prefix] if n == 1 else [f"{prefix}_{i}" for i in range(n)]


def export_onnx(
    model_or_space: nn.Module,
    path: str | os.PathLike[str],
    example_input: Inputs,
    *,
    sample: Mapping[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    check: bool = True,
) -> Path:
    """Write a frozen model (or ``space.freeze(sample)``) to an ONNX file, in eval mode.

    The model is traced on ``example_input`` in eval mode (batch norm on running statistics,
    dropout and drop-path off; a DARTS network with an auxiliary head then returns its logits
    only) and its training mode is restored afterwards. Inputs are named ``input`` (or
    ``input_0``, ``input_1``, ...), outputs ``output`` (or ``output_0``, ...); a forward that
    returns a tuple, list or dict gives one ONNX output per tensor, in order. The file states its
    opset (the ONNX default domain's ``opset_import``) and carries metadata: ``archspace.sample``
    (the architecture as JSON, when the model is frozen from a space) and ``archspace.model``.

    Args:
        model_or_space: a frozen model (any ``nn.Module`` without open decisions) or a ModelSpace.
        path: the ``.onnx`` file to write (its folder is created; written whole, then renamed).
        example_input: a tensor or tuple of tensors the model runs on (batch first).
        sample: the architecture to freeze when ``model_or_space`` is a space (fresh weights:
            seed torch first to repeat them).
        opset: the ONNX opset version (default 17).
        dynamic_batch: make dimension 0 of every input and output symbolic (``batch``), so the
            file runs on any batch size; ``False`` fixes the example's batch size.
        check: run ``onnx.checker`` on the written file.

    Returns:
        The path written.

    Raises:
        SpaceDefinitionError: a space without ``sample``, ``sample`` with a frozen model, or a
            model that still holds decisions.
        OnnxInputError: ``example_input`` is not tensors, or the model cannot run on it.
        OnnxError: the exporter or the checker refused the model.
        MissingExtraError: onnx or onnxruntime is not installed.
    """
    onnx, _ = _require()
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 7:
        raise OnnxError(f"opset must be an int >= 7 (e.g. {DEFAULT_OPSET}), got {opset!r}")
    target = Path(path)
    if target.is_dir():
        raise OnnxError(f"{str(target)!r} is a directory; give the path of the .onnx file to write, e.g. "
                        f"{str(target / 'model.onnx')!r}")
    model = _model_to_export(model_or_space, sample)
    inputs = _as_tuple(example_input, "example_input")
    param = next(model.parameters(), None)
    if param is not None:
        inputs = tuple(t.to(param.device) for t in inputs)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                outputs = flatten_outputs(model(*inputs))
            except Exception as exc:
                shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
                raise OnnxInputError(f"the model cannot run on the example input of shape {shapes}: "
                                     f"{type(exc).__name__}: {str(exc)[:300]}") from exc
            if not outputs:
                raise OnnxError("the model's forward returned no tensor: nothing to export")
            input_names, output_names = _names("input", len(inputs)), _names("output", len(outputs))
            dynamic_axes: dict[str, dict[int, str]] | None = None
            if dynamic_batch:
                dynamic_axes = {name: {0: "batch"} for name, t in zip(input_names, inputs) if t.dim() >= 1}
                dynamic_axes.update({name: {0: "batch"} for name, t in zip(output_names, outputs) if t.dim() >= 1})
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OnnxError(f"cannot create the folder of {str(target)!r}: {exc.strerror or exc}") from None
            partial = target.with_name(target.name + ".partial")
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
                    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
                    torch.onnx.export(model, inputs, str(partial), dynamo=False, opset_version=opset,
                                      input_names=input_names, output_names=output_names,
                                      dynamic_axes=dynamic_axes)
            except Exception as exc:
                partial.unlink(missing_ok=True)
                raise OnnxError(f"PyTorch could not export {type(model).__name__} to ONNX opset {opset}: "
                                f"{type(exc).__name__}: {str(exc)[:500]}") from exc
    finally:
        model.train(was_training)
    try:
        proto = onnx.load(str(partial))
        frozen = getattr(model, "frozen_sample", None)
        meta = {"archspace.model": f"{type(model).__module__}.{type(model).__qualname__}"}
        if frozen is not None:
            meta["archspace.sample"] = json.dumps(frozen, sort_keys=True)
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(partial))
        if check:
            try:
                onnx.checker.check_model(str(partial), full_check=True)
            except Exception as exc:
                raise OnnxError(f"the exported file fails the ONNX checker: {str(exc)[:500]}") from exc
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def file_opset(path: str | os.PathLike[str]) -> int:
    """The opset an ONNX file states for the default (``ai.onnx``) domain."""
    onnx, _ = _require()
    proto = onnx.load(str(path), load_external_data=False)
    return next(int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def file_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata an ONNX file carries (``archspace.sample``, ``archspace.model``, ...)."""
    onnx, _ = _require()
    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def _default_threads() -> int:
    from archspace._threads import fair_threads, local_processes

    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else fair_threads(local_processes())


def onnx_session(path: str | os.PathLike[str], *, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session on the CPU with a fixed thread count, run sequentially.

    Timings repeat only with a known thread count: ``threads`` intra-op threads (None: the value
    of ``OMP_NUM_THREADS``, else a fair share of this process's CPUs, as archspace's training
    uses), one inter-op thread, sequential execution.

    Raises:
        OnnxError: no such file, or ONNX Runtime cannot load it.
    """
    _, ort = _require()
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise OnnxError(f"threads must be a positive int or None, got {threads!r}")
    file = Path(path)
    if not file.is_file():
        raise OnnxError(f"no ONNX file at {str(file)!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else _default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise OnnxError(f"ONNX Runtime cannot load {str(file)!r}: {str(exc)[:500]}") from exc


_NUMPY_OF_ONNX = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
                  "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def _feed(session: onnxruntime.InferenceSession, inputs: Any) -> dict[str, np.ndarray]:
    specs = session.get_inputs()
    if isinstance(inputs, Mapping):
        given = dict(inputs)
        names = [s.name for s in specs]
        if sorted(given) != sorted(names):
            raise OnnxInputError(f"inputs named {sorted(given)}; the model's inputs are {names}")
        values = [given[s.name] for s in specs]
    else:
        values = [inputs] if isinstance(inputs, (torch.Tensor, np.ndarray)) else list(inputs)
        if len(values) != len(specs):
            raise OnnxInputError(f"{len(values)} input(s) given; the model takes {len(specs)}: "
                                 f"{[(s.name, s.shape) for s in specs]}")
    feed: dict[str, np.ndarray] = {}
    for spec, value in zip(specs, values):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        expected = spec.shape
        fits = len(expected) == array.ndim and all(
            not isinstance(d, int) or d == n for d, n in zip(expected, array.shape))
        if not fits:
            shown = "(" + ", ".join(str(d) for d in expected) + ")"
            raise OnnxInputError(f"input {spec.name!r} has shape {tuple(array.shape)}; the model expects {shown}")
        dtype = _NUMPY_OF_ONNX.get(spec.type)
        if dtype is not None and array.dtype != dtype:
            raise OnnxInputError(f"input {spec.name!r} has dtype {array.dtype}; the model expects {spec.type} "
                                 f"(convert it, e.g. .astype(numpy.{np.dtype(dtype).name}))")
        feed[spec.name] = array
    return feed


def run_onnx(session_or_path: onnxruntime.InferenceSession | str | os.PathLike[str], inputs: Any) -> list[np.ndarray]:
    """Run an ONNX model once; its outputs in order, as numpy arrays.

    Args:
        session_or_path: a session (:func:`onnx_session`) or the path of an ONNX file.
        inputs: a tensor or array, a sequence of them in the model's input order, or a dict by
            input name. Shapes and dtypes are checked against the file before running.

    Raises:
        OnnxInputError: the wrong number of inputs, a wrong shape or dtype (the message gives the
            model's expected shape, ``batch`` where the batch size is free).
    """
    session = session_or_path if not isinstance(session_or_path, (str, os.PathLike)) else onnx_session(session_or_path)
    feed = _feed(session, inputs)
    try:
        return [np.asarray(out) for out in session.run(None, feed)]
    except Exception as exc:
        raise OnnxError(f"ONNX Runtime failed to run the model: {str(exc)[:500]}") from exc


def compare_onnx(
    model: nn.Module,
    path: str | os.PathLike[str] | onnxruntime.InferenceSession,
    example_input: Inputs,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> float:
    """The largest absolute difference between PyTorch's and ONNX Runtime's outputs on one input.

    The model runs in eval mode (its mode is restored); every output must agree element-wise
    within ``|onnx - torch| <= atol + rtol * |torch|`` (numpy's ``allclose`` rule).

    Returns:
        The maximum absolute difference over all outputs.

    Raises:
        OnnxMismatchError: a different number of outputs, a different shape, or values outside
            the tolerance (the message names the output, the largest difference and the tolerance).
    """
    inputs = _as_tuple(example_input, "example_input")
    got = run_onnx(path, list(inputs))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        with torch.no_grad():
            moved = tuple(t.to(param.device) for t in inputs) if param is not None else inputs
            expected = [t.detach().cpu().numpy() for t in flatten_outputs(model(*moved))]
    finally:
        model.train(was_training)
    if len(got) != len(expected):
        raise OnnxMismatchError(f"ONNX Runtime gave {len(got)} output(s), PyTorch {len(expected)}")
    worst = 0.0
    for i, (g, e) in enumerate(zip(got, expected)):
        if g.shape != e.shape:
            raise OnnxMismatchError(f"output {i}: ONNX Runtime gave shape {g.shape}, PyTorch {e.shape}")
        if g.size == 0:
            continue
        diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
        worst = max(worst, float(diff.max()))
        if not np.all(diff <= atol + rtol * np.abs(e.astype(np.float64))):
            raise OnnxMismatchError(f"output {i}: ONNX Runtime differs from PyTorch by up to {float(diff.max()):.3g} "
                                    f"(tolerance atol={atol:g} + rtol={rtol:g} * |torch|)")
    return worst


__all__ = ["DEFAULT_ATOL", "DEFAULT_OPSET", "DEFAULT_RTOL", "MissingExtraError", "OnnxError", "OnnxInputError",
           "OnnxMismatchError", "compare_onnx", "export_onnx", "file_metadata", "file_opset", "flatten_outputs",
           "onnx_session", "run_onnx"]
