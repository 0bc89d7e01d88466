"""ONNX export: every hub space exports, passes the checker and runs in ONNX Runtime as in PyTorch.

Tolerance of the comparisons: ``|onnx - torch| <= ATOL + RTOL * |torch|`` element-wise, with
RTOL = 1e-4 and ATOL = 1e-6 (float32; the differences seen are below 1e-7 on outputs of 1e-3..1).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import SpaceDefinitionError
from archspace.hardware import compare_onnx, export_onnx, onnx_session, run_onnx
from archspace.hardware.onnx import (
    MissingExtraError,
    OnnxInputError,
    OnnxMismatchError,
    file_metadata,
    file_opset,
)
from archspace.hub import HUB, DartsSpace, NasBench201
from archspace.testing import ExampleNet

RTOL, ATOL = 1e-4, 1e-6


@pytest.mark.parametrize("name", HUB.list())
def test_every_hub_space_exports_and_matches_pytorch_at_another_batch_size(name: str, tmp_path: Path) -> None:
    space = HUB.get(name).small()  # type: ignore[attr-defined]
    for seed in (0, 1):
        sample = space.random_sample(seed)
        torch.manual_seed(seed)
        single, batch = space.example_input(1), space.example_input(3)
        torch.manual_seed(100 + seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = export_onnx(space, tmp_path / f"{name}-{seed}.onnx", single, sample=sample, opset=17)
        # Fixed routers (FixedCell, ChosenInputs) trace without Python-side decisions on tensors.
        assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)], [str(w.message) for w in caught]
        onnx.checker.check_model(str(path), full_check=True)
        assert file_opset(path) == 17
        assert json.loads(file_metadata(path)["archspace.sample"]) == space.validate(sample)
        torch.manual_seed(100 + seed)
        model = space.freeze(sample)  # the same weights the export froze
        diff = compare_onnx(model, path, batch, rtol=RTOL, atol=ATOL)
        assert 0 <= diff <= ATOL + RTOL
        out = run_onnx(path, batch)
        assert out[0].shape[0] == 3 and np.isfinite(out[0]).all()
        assert not np.allclose(out[0][0], out[0][1])  # the network reads its input


def test_tuple_outputs_become_one_onnx_output_each(tmp_path: Path) -> None:
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(6, 5)
            self.a, self.b = nn.Linear(5, 3), nn.Linear(5, 2)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None, dict[str, torch.Tensor]]:
            h = torch.relu(self.body(x))
            return self.a(h), None, {"aux": self.b(h)}

    model = TwoHeads()
    path = export_onnx(model, tmp_path / "heads.onnx", torch.randn(1, 6))
    assert [o.name for o in onnx_session(path, threads=1).get_outputs()] == ["output_0", "output_1"]
    x = torch.randn(4, 6)
    first, second = run_onnx(path, x)
    assert first.shape == (4, 3) and second.shape == (4, 2)
    assert compare_onnx(model, path, x, rtol=RTOL, atol=ATOL) <= 1e-5


def test_darts_with_auxiliary_head_exports_its_eval_logits_and_keeps_training_mode(tmp_path: Path) -> None:
    space = DartsSpace(width=4, num_cells=3, search=False, auxiliary_loss=True)
    model = space.freeze(space.default_sample())
    x = space.example_input(2)
    assert isinstance(model.train()(x), tuple)  # training: (logits, aux_logits)
    path = export_onnx(model, tmp_path / "aux.onnx", x)
    assert model.training  # the export ran in eval mode and put the mode back
    assert [o.name for o in onnx_session(path, threads=1).get_outputs()] == ["output"]
    assert compare_onnx(model, path, x, rtol=RTOL, atol=ATOL) >= 0
    assert model.training


def test_dynamic_batch_off_fixes_the_batch_size_and_says_so(tmp_path: Path) -> None:
    space = NasBench201.small()
    model = space.freeze(space.default_sample())
    path = export_onnx(model, tmp_path / "fixed.onnx", space.example_input(1), dynamic_batch=False, opset=13)
    assert file_opset(path) == 13
    assert run_onnx(path, space.example_input(1))[0].shape == (1, 10)
    with pytest.raises(OnnxInputError, match=r"shape \(3, 3, 32, 32\); the model expects \(1, 3, 32, 32\)"):
        run_onnx(path, space.example_input(3))


def test_wrong_inputs_are_refused_with_the_expected_shape_and_dtype(tmp_path: Path) -> None:
    space = NasBench201.small()
    model = space.freeze(space.default_sample())
    with pytest.raises(OnnxInputError, match=r"cannot run on the example input of shape \(1, 1, 32, 32\)"):
        export_onnx(model, tmp_path / "bad.onnx", torch.randn(1, 1, 32, 32))
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(OnnxInputError, match="tensor or a tuple of tensors"):
        export_onnx(model, tmp_path / "bad.onnx", [[1.0, 2.0]])  # type: ignore[arg-type]
    path = export_onnx(model, tmp_path / "ok.onnx", space.example_input(1))
    session = onnx_session(path, threads=1)
    with pytest.raises(OnnxInputError, match=r"shape \(2, 3, 16, 16\); the model expects \(batch, 3, 32, 32\)"):
        run_onnx(session, torch.randn(2, 3, 16, 16))
    with pytest.raises(OnnxInputError, match=r"dtype float64; the model expects tensor\(float\)"):
        run_onnx(session, np.zeros((2, 3, 32, 32)))
    with pytest.raises(OnnxInputError, match=r"2 input\(s\) given; the model takes 1"):
        run_onnx(session, [space.example_input(1), space.example_input(1)])
    with pytest.raises(OnnxInputError, match=r"inputs named \['x'\]; the model's inputs are \['input'\]"):
        run_onnx(session, {"x": space.example_input(1).numpy()})
    assert run_onnx(session, {"input": space.example_input(2).numpy()})[0].shape == (2, 10)


def test_a_space_needs_a_sample_and_a_model_must_be_frozen(tmp_path: Path) -> None:
    space = ExampleNet()
    x = torch.randn(1, 1, 8, 8)
    with pytest.raises(SpaceDefinitionError, match="pass sample="):
        export_onnx(space, tmp_path / "space.onnx", x)
    model = space.freeze(space.default_sample())
    with pytest.raises(SpaceDefinitionError, match="already frozen"):
        export_onnx(model, tmp_path / "m.onnx", x, sample=space.default_sample())
    half = nn.Sequential(asp.LayerChoice([nn.Identity(), nn.ReLU()], label="act"))
    with pytest.raises(SpaceDefinitionError, match=r"still holds decisions \(at \['0'\]\)"):
        export_onnx(half, tmp_path / "half.onnx", x)
    assert not list(tmp_path.iterdir())


def test_compare_onnx_catches_a_model_that_differs_from_its_file(tmp_path: Path) -> None:
    space = ExampleNet()
    model = space.freeze(space.default_sample())
    x = torch.randn(2, 1, 8, 8)
    path = export_onnx(model, tmp_path / "m.onnx", x)
    assert compare_onnx(model, path, x, rtol=RTOL, atol=ATOL) <= 1e-5
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # the model moves on; the file does not
    with pytest.raises(OnnxMismatchError, match=r"output 0: ONNX Runtime differs from PyTorch by up to"):
        compare_onnx(model, path, x, rtol=RTOL, atol=ATOL)


def test_sessions_use_the_thread_count_asked_for(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    path = export_onnx(model, tmp_path / "lin.onnx", torch.randn(1, 3))
    options = onnx_session(path, threads=2).get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert str(options.execution_mode).endswith("ORT_SEQUENTIAL")
    with pytest.raises(asp.ArchspaceError, match="no ONNX file at"):
        onnx_session(tmp_path / "missing.onnx")


def test_missing_extra_names_the_pip_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'archspace\[onnx\]'"):
        export_onnx(nn.Linear(2, 2), tmp_path / "x.onnx", torch.randn(1, 2))
    assert not list(tmp_path.iterdir())
