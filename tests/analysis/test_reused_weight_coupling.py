"""The reused-weight coupling ablation against a plain numpy implementation of §5.3 of the ResNet
notes (loop over layers, explicit projectors), and its measurements' basic properties."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.analysis.reused_weight_coupling import history_train
from mflab.errors import ConfigError
from mflab.networks.resnet import ResNet


pytestmark = pytest.mark.usefixtures("x64_module")  # float64 references (conftest)


def _orth(M):
    """Orthonormal basis of the column span (numpy SVD, rank-revealing)."""
    if M.shape[1] == 0:
        return np.zeros((M.shape[0], 0))
    u, sv, _ = np.linalg.svd(M, full_matrices=False)
    return u[:, sv > 1e-10 * sv[0]]


def _reference(net, p, X, y, lr, steps, ablate):
    """Depth-μP one-layer-block ResNet, tanh, full-batch SGD at rate lr·n on U, ΔW, v; the backward
    product W0ᵀg gains P_A (W̃ − W0)ᵀ P_C^⊥ g when ``ablate``. Columns are samples."""
    U, W0, dW, Wt, v = (np.array(a) for a in (p.U, p.W0[0], p.dW[0], p.Wb0[0], p.v))
    L, n, P, d = net.depth, net.width, X.shape[0], X.shape[1]
    c = net.branch_scale / np.sqrt(n)
    X = np.asarray(X).T
    y = np.asarray(y)
    A_hist = [[] for _ in range(L)]
    C_hist = [[] for _ in range(L)]
    dphi = lambda u: 1 - np.tanh(u) ** 2  # noqa: E731
    for _ in range(steps):
        H = [U @ X / np.sqrt(d)]
        for ell in range(L):
            H.append(H[-1] + c * (W0[ell] + dW[ell]) @ np.tanh(H[-1]))
        f = v @ np.tanh(H[-1]) / n
        chi = 2 * (f - y) / P
        delta = [None] * (L + 1)
        delta[L] = (v[:, None] / n) * dphi(H[L]) * chi[None, :]
        gW = [None] * L
        for ell in range(L - 1, -1, -1):
            A_hist[ell].append(np.tanh(H[ell]))
            g = c * delta[ell + 1]
            z = (W0[ell] + dW[ell]).T @ g
            if ablate:
                QA = _orth(np.hstack(A_hist[ell]))
                QC = _orth(np.hstack(C_hist[ell])) if C_hist[ell] else np.zeros((n, 0))
                gp = g - QC @ (QC.T @ g)
                z = z + QA @ (QA.T @ ((Wt[ell] - W0[ell]).T @ gp))
            delta[ell] = delta[ell + 1] + dphi(H[ell]) * z
            gW[ell] = g @ np.tanh(H[ell]).T
            C_hist[ell].append(delta[ell + 1])  # same span as the per-sample ĝ (χ ≠ 0)
        gv = np.tanh(H[L]) @ chi / n
        gU = delta[0] @ X.T / np.sqrt(d)
        U, v = U - lr * n * gU, v - lr * n * gv
        dW = dW - lr * n * np.stack(gW)
    return U, dW, v


@pytest.mark.parametrize("swap", ["none", "coupling"])
def test_history_training_matches_a_plain_implementation(swap):
    X = jax.random.normal(jax.random.PRNGKey(0), (3, 5))
    y = jnp.sin(X[:, 0])
    net = ResNet.create(12, 4, "tanh", "depth-mup", mode="ablate-coupling")
    p = net.init(jax.random.PRNGKey(1), 5, jnp.float64)
    st = jax.jit(lambda p: history_train(net, p, X, y, 0.3, 3, swap=swap))(p)
    U, dW, v = _reference(net, p, X, y, 0.3, 3, ablate=swap == "coupling")
    np.testing.assert_allclose(st.params.U, U, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(st.params.dW[0], dW, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(st.params.v, v, rtol=1e-9, atol=1e-11)
    assert bool(st.alive)


def test_ablation_changes_training_and_coupling_is_measured():
    X = jax.random.normal(jax.random.PRNGKey(0), (4, 8))
    y = jnp.tanh(X[:, 0])
    net = ResNet.create(64, 8, "tanh", "depth-mup", mode="ablate-coupling")
    p = net.init(jax.random.PRNGKey(2), 8, jnp.float64)
    std, abl = (history_train(net, p, X, y, 0.5, 3, swap=s) for s in ("none", "coupling"))
    np.testing.assert_allclose(std.outputs[0], abl.outputs[0])  # same initialisation
    gap = float(jnp.max(jnp.abs(std.outputs[-1] - abl.outputs[-1])))
    move = float(jnp.max(jnp.abs(std.outputs[-1] - std.outputs[0])))
    assert 0 < gap < 0.2 * move  # a real but small change of the trajectory
    assert np.all(np.asarray(std.coupling) > 0) and np.all(np.asarray(std.coupling_null) > 0)


def test_bad_modes():
    X = jnp.ones((2, 3))
    net = ResNet.create(8, 2, "tanh", "depth-mup")
    with pytest.raises(ConfigError, match="ablate-coupling"):
        history_train(net, net.init(jax.random.PRNGKey(0), 3), X, X[:, 0], 0.1, 1)
    net = ResNet.create(8, 2, "tanh", "depth-mup", mode="ablate-coupling")
    with pytest.raises(ConfigError, match="swap"):
        history_train(net, net.init(jax.random.PRNGKey(0), 3), X, X[:, 0], 0.1, 1, swap="half")
