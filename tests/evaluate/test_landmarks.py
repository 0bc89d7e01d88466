"""NME and PFLD's loss against direct computation; the Landmarks evaluator trains a PFLD model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from archspace.data.landmarks import write_synthetic
from archspace.evaluate import EvaluatorError, Landmarks, nme, pfld_loss
from archspace.hub import PFLD


def test_nme_matches_a_direct_loop_with_outer_eye_corners_35_and_93() -> None:
    rng = np.random.default_rng(0)
    truth, pred = rng.random((5, 106, 2)), rng.random((5, 106, 2))
    expected = [np.mean(np.linalg.norm(p - t, axis=1)) / np.linalg.norm(t[35] - t[93]) for p, t in zip(pred, truth)]
    got = nme(torch.tensor(pred.reshape(5, 212)), torch.tensor(truth.reshape(5, 212)))
    assert np.allclose(got.numpy(), expected, rtol=1e-5)
    assert torch.allclose(nme(torch.tensor(pred), torch.tensor(truth)), got)
    # scale-free: pixels or fractions of the crop give the same NME
    assert torch.allclose(nme(torch.tensor(pred) * 112, torch.tensor(truth) * 112), got, rtol=1e-5)
    # the denominator moves with the corners only
    moved = truth.copy()
    moved[:, 0] += 5.0
    assert torch.allclose(nme(torch.tensor(moved), torch.tensor(moved)), torch.zeros(5, dtype=torch.float32))
    other = nme(torch.tensor(pred), torch.tensor(truth), corners=(0, 1))
    assert not torch.allclose(other, got)


def test_nme_refuses_bad_shapes_and_unknown_layouts() -> None:
    with pytest.raises(EvaluatorError, match=r"differ in shape"):
        nme(torch.zeros(2, 212), torch.zeros(2, 196))
    with pytest.raises(EvaluatorError, match="no eye-corner indices known for 10 landmarks"):
        nme(torch.zeros(2, 20), torch.zeros(2, 20))
    with pytest.raises(EvaluatorError, match="odd number"):
        nme(torch.zeros(2, 21), torch.zeros(2, 21))
    with pytest.raises(EvaluatorError, match="no eye-corner indices known for 10"):
        Landmarks((torch.zeros(1, 3, 8, 8), torch.zeros(1, 23)), (torch.zeros(1, 3, 8, 8), torch.zeros(1, 23)),
                  num_points=10)


def test_pfld_loss_weights_each_face_by_its_pose_error() -> None:
    torch.manual_seed(0)
    lm, gt = torch.randn(4, 212), torch.randn(4, 212)
    angles, gt_angles = torch.randn(4, 3) * 30, torch.randn(4, 3) * 30
    l2 = ((lm - gt) ** 2).sum(1)
    weight = torch.tensor([sum(1 - math.cos(math.radians(a - b)) for a, b in zip(row, row_gt))
                           for row, row_gt in zip(angles.tolist(), gt_angles.tolist())])
    assert torch.allclose(pfld_loss(lm, gt, angles, gt_angles), (weight * l2).mean(), rtol=1e-5)
    assert torch.allclose(pfld_loss(lm, gt), l2.mean())
    # a full turn is no pose error; raw values (NNI's form) differ
    assert float(pfld_loss(lm, gt, gt_angles + 360.0, gt_angles)) < 1e-6
    raw = pfld_loss(lm, gt, angles, gt_angles, angles_in_degrees=False)
    assert torch.allclose(raw, ((1 - torch.cos(angles - gt_angles)).sum(1) * l2).mean())


def test_evaluator_loss_uses_the_auxiliary_angles_and_the_metric_is_nme() -> None:
    torch.manual_seed(0)
    space = PFLD(input_size=32, width=4)
    x, y = space.example_input(4), torch.rand(4, 215) * 30
    model = space.freeze(space.default_sample()).train()
    evaluator = Landmarks((x, y), (x, y), batch_size=4)
    loss = evaluator.loss(model(x), y)
    loss.backward()
    grads = [p.grad for p in model.auxiliary.parameters()]
    assert all(g is not None and bool(g.abs().sum() > 0) for g in grads)
    plain = Landmarks((x, y), (x, y), angle_weighting=False).loss(model(x), y)
    assert torch.allclose(plain, pfld_loss(model(x)[0], y[:, :212]))
    model.eval()
    with torch.no_grad():
        total, count = evaluator.batch_metric(model(x), y)
        assert count == 4 and math.isclose(total, float(nme(model(x), y[:, :212]).sum()), rel_tol=1e-6)
    with pytest.raises(EvaluatorError, match=r"must be \(N, 215\)"):
        evaluator.loss(model(x), y[:, :212])


def test_training_lowers_the_validation_nme(tmp_path: Path) -> None:
    from archspace.data.landmarks import landmarks

    write_synthetic(tmp_path, train=32, test=8, image_size=32)
    train, val = landmarks(tmp_path, image_size=32)
    space = PFLD(input_size=32, width=4)
    torch.manual_seed(0)
    model = space.freeze(space.default_sample())
    evaluator = Landmarks(train, val, epochs=8, batch_size=8, learning_rate=3e-3)
    before = evaluator.score(model)
    after = evaluator.fit(model)
    assert after == evaluator.score(model)
    assert after < 0.7 * before, (before, after)
