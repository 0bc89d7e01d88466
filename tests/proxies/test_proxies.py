"""Each zero-cost proxy against a hand computation on a two-layer network, with the gradients
written out by hand (never autograd's), plus the contract every proxy keeps: the caller's model
unchanged, the same score under the same seed, a clear error for missing labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from archspace.proxies import DATA_FREE, PROXIES, Batch, ProxyError, score_sample

N, D, H, C = 6, 5, 8, 3


def two_layer(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(D, H, bias=False), nn.ReLU(), nn.Linear(H, C, bias=False)).double()


def data(seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.randn(N, D, generator=g, dtype=torch.float64), torch.randint(0, C, (N,), generator=g))


def by_hand(net: nn.Sequential, batch: Batch) -> dict[str, np.ndarray]:
    """Forward and backward of the mean cross-entropy of x -> W2 relu(W1 x), in numpy."""
    w1, w2 = net[0].weight.detach().numpy(), net[2].weight.detach().numpy()
    x, y = batch.inputs.numpy(), batch.targets.numpy()
    pre = x @ w1.T
    act = np.maximum(pre, 0)
    z = act @ w2.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(C)[y]) / N
    dw2 = dz.T @ act
    dpre = (dz @ w2) * (pre > 0)
    dw1 = dpre.T @ x
    return {"w1": w1, "w2": w2, "x": x, "pre": pre, "z": z, "dz": dz, "dpre": dpre, "dw1": dw1, "dw2": dw2}


def score(name: str, net: nn.Module, batch: Batch) -> float:
    return PROXIES.create(name)(net, batch).value


def test_counts_match_the_shapes() -> None:
    net, batch = two_layer(), data()
    assert score("params", net, batch) == D * H + H * C
    assert score("flops", net, batch) == D * H + H * C  # multiply-accumulates of one input


def test_grad_norm_snip_are_the_hand_gradients() -> None:
    net, batch = two_layer(), data()
    h = by_hand(net, batch)
    assert score("grad_norm", net, batch) == pytest.approx(np.linalg.norm(h["dw1"]) + np.linalg.norm(h["dw2"]), rel=1e-9)
    assert score("snip", net, batch) == pytest.approx(np.abs(h["w1"] * h["dw1"]).sum() + np.abs(h["w2"] * h["dw2"]).sum(),
                                                      rel=1e-9)


def test_synflow_is_the_path_sum_of_absolute_weights() -> None:
    net, batch = two_layer(), data()
    w1, w2 = np.abs(net[0].weight.detach().numpy()), np.abs(net[2].weight.detach().numpy())
    # R = 1ᵀ|W2||W1|1; ∂R/∂W2[c, j] = (|W1|1)_j and ∂R/∂W1[j, i] = Σ_c |W2|[c, j]
    hidden = w1.sum(1)
    expected = (w2 * hidden[None, :]).sum() + (w1 * w2.sum(0)[:, None]).sum()
    assert score("synflow", net, batch) == pytest.approx(expected, rel=1e-12)


def test_synflow_ignores_normalisation_and_data() -> None:
    net = nn.Sequential(nn.Linear(D, H, bias=False), nn.BatchNorm1d(H), nn.ReLU(), nn.Linear(H, C, bias=False))
    bare = nn.Sequential(net[0], nn.ReLU(), net[3])
    assert score("synflow", net, data(1)) == score("synflow", bare, data(2))


def test_grasp_is_minus_theta_hessian_gradient() -> None:
    net, batch = two_layer(), data()
    w1, w2 = net[0].weight.detach().clone(), net[2].weight.detach().clone()
    theta = torch.cat([w1.flatten(), w2.flatten()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        a = flat[: H * D].reshape(H, D)
        b = flat[H * D:].reshape(C, H)
        return nn.functional.cross_entropy(torch.relu(batch.inputs @ a.T) @ b.T, batch.targets)

    hessian = torch.autograd.functional.hessian(loss, theta)  # the full matrix, not a product
    g = torch.autograd.functional.jacobian(loss, theta)
    assert score("grasp", net, batch) == pytest.approx(float(-(theta * (hessian @ g)).sum()), rel=1e-9)


def test_fisher_is_the_channel_saliency_times_weights_per_channel() -> None:
    net, batch = two_layer(), data()
    h = by_hand(net, batch)
    first = 0.5 * ((h["pre"] * h["dpre"]) ** 2).mean(0)  # output channels of layer 1
    second = 0.5 * ((h["z"] * h["dz"]) ** 2).mean(0)
    assert score("fisher", net, batch) == pytest.approx(first.sum() * D + second.sum() * H, rel=1e-9)


def test_jacob_cov_is_the_eigen_score_of_input_jacobians() -> None:
    net, batch = two_layer(), data()
    h = by_hand(net, batch)
    # d(Σ_c z_c)/dx = W1ᵀ((pre > 0) ⊙ W2ᵀ1), per input
    jac = ((h["pre"] > 0) * h["w2"].sum(0)[None, :]) @ h["w1"]
    v = np.linalg.eigvalsh(np.corrcoef(jac))
    assert score("jacob_cov", net, batch) == pytest.approx(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5)), rel=1e-6)


def test_naswot_is_the_log_determinant_of_the_hamming_kernel() -> None:
    net, batch = two_layer(), data()
    codes = (by_hand(net, batch)["pre"] > 0).astype(float)
    kernel = np.array([[H - np.sum(a != b) for b in codes] for a in codes], dtype=float)
    assert score("naswot", net, batch) == pytest.approx(np.linalg.slogdet(kernel)[1], rel=1e-9)


def test_zico_is_the_log_inverse_variation_over_two_minibatches() -> None:
    net, batch = two_layer(), data()
    halves = [Batch(batch.inputs[:3], batch.targets[:3]), Batch(batch.inputs[3:], batch.targets[3:])]
    grads = [by_hand(net, b) for b in halves]
    expected = 0.0
    for key in ("dw1", "dw2"):
        stacked = np.stack([g[key].ravel() for g in grads])
        std, mean = stacked.std(0), np.abs(stacked).mean(0)
        ratio = (mean[std != 0] / std[std != 0]).sum()
        expected += math.log(ratio) if ratio else 0.0
    assert score("zico", net, batch) == pytest.approx(expected, rel=1e-9)


def test_meco_sums_minimum_eigenvalues_of_channel_correlations() -> None:
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False).double()
    net = nn.Sequential(conv, nn.ReLU())
    x = torch.randn(2, 2, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def lam(t: torch.Tensor) -> float:
        return float(np.linalg.eigvalsh(np.nan_to_num(np.corrcoef(t.reshape(len(t), -1).numpy()))).min())

    out = conv(x[:1])[0].detach()
    # hooked: the conv, the ReLU, and the Sequential (whose output is the ReLU's)
    expected = lam(out) + 2 * lam(torch.relu(out))
    assert score("meco", net, Batch(x)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", sorted(PROXIES.list()))
def test_every_proxy_leaves_the_model_alone_and_repeats(name: str) -> None:
    net, batch = two_layer(), data()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    first, second = score(name, net, batch), score(name, net, batch)
    assert first == second
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


def test_a_seed_fixes_the_network_a_sample_builds() -> None:
    from archspace.hub import NasBench201

    space = NasBench201(channels=4, num_cells=1)
    sample = space.default_sample()
    batch = Batch(torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3]))
    proxies = [PROXIES.create(n) for n in ("synflow", "snip")]
    a = score_sample(space, sample, proxies, batch, seed=3)
    b = score_sample(space, sample, proxies, batch, seed=3)
    c = score_sample(space, sample, proxies, batch, seed=4)
    assert {k: v.value for k, v in a.items()} == {k: v.value for k, v in b.items()}
    assert a["snip"].value != c["snip"].value


def test_bad_input_is_named() -> None:
    net = two_layer()
    with pytest.raises(ProxyError, match="needs labels|takes a loss"):
        score("snip", net, Batch(torch.zeros(2, D, dtype=torch.float64)))
    with pytest.raises(ProxyError, match="non-empty tensor"):
        Batch(torch.zeros(0, D))
    with pytest.raises(ProxyError, match="one label per input"):
        Batch(torch.zeros(2, D), torch.zeros(3))
    with pytest.raises(Exception, match="known proxies"):
        PROXIES.create("synflo")
    assert set(DATA_FREE) <= set(PROXIES.list())
    assert score("synflow", net, Batch(torch.zeros(1, D, dtype=torch.float64))) > 0  # data-free: no labels needed
