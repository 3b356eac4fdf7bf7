"""Depth-μP ResNets: gradients against a plain implementation, the infinite-width init covariance
against wide networks, its O(1/L) depth limit, and the two-layer-block collapse."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.analysis.coordinate_check import coordinate_check, feature_updates
from mflab.analysis.fits import loglog_slope
from mflab.dynamics.objectives import TrainData
from mflab.errors import ConfigError
from mflab.networks.resnet import ResNet
from mflab.theory.depth import depth_limit_covariance, gaussian_phi_covariance, resnet_init_covariance



pytestmark = pytest.mark.usefixtures("x64_module")  # float64 references (conftest)


def _data(P=4, d=6, seed=0):
    X = jax.random.normal(jax.random.PRNGKey(seed), (P, d), jnp.float64)
    return X, jnp.sin(X[:, 0]) + 0.3 * X[:, 1]


def _plain_loss(net: ResNet, U, Ws, Wbs, v, X, y):
    """Loop-over-layers reference; the backward matrices enter through a stop-gradient trick:
    x Wᵀ has value x Wᵀ and x-cotangent g B when written x (W − B)ᵀ|_stop + x Bᵀ, W-cotangent via W."""
    phi, n, s = net.activation.fn, net.width, net.branch_scale
    sg = jax.lax.stop_gradient

    def mm(x, W, B):
        return sg(x) @ W.T + x @ sg(B).T - sg(x) @ sg(B).T

    h = X @ U.T / np.sqrt(X.shape[1])
    for ell in range(net.depth):
        x = phi(h)
        if net.block_layers == 2:
            x = phi(mm(x, Ws[0][ell], Wbs[0][ell]) / np.sqrt(n))
        h = h + s * mm(x, Ws[-1][ell], Wbs[-1][ell]) / np.sqrt(n)
    f = net.readout_scale * phi(h) @ v
    return jnp.mean((f - y) ** 2)


@pytest.mark.parametrize("block_layers", [1, 2])
@pytest.mark.parametrize("mode", ["backprop", "decoupled"])
def test_gradients_match_a_plain_implementation(block_layers, mode):
    net = ResNet.create(16, 5, "tanh", "depth-mup", block_layers=block_layers, mode=mode)
    X, y = _data()
    p = net.init(jax.random.PRNGKey(1), X.shape[1], X.dtype)
    p = p._replace(dW=tuple(0.1 * jax.random.normal(jax.random.PRNGKey(7 + i), w.shape, w.dtype)
                            for i, w in enumerate(p.dW)))
    data = TrainData(X, y, jnp.full(len(y), 1 / len(y)))
    from mflab.networks.resnet import resnet_mse

    loss, g = resnet_mse(net)(p, data, None)
    Ws = tuple(a + b for a, b in zip(p.W0, p.dW))
    Wbs = Ws if mode == "backprop" else tuple(a + b for a, b in zip(p.Wb0, p.dW))
    ref_loss, ref = jax.value_and_grad(lambda U, Ws, v: _plain_loss(net, U, Ws, Wbs, v, X, y), (0, 1, 2))(p.U, Ws, p.v)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(g.U, ref[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g.v, ref[2], rtol=1e-9, atol=1e-12)
    for a, b in zip(g.dW, ref[1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    if mode == "backprop":  # and plain autodiff through the scan agrees too
        auto = jax.grad(lambda dW: jnp.mean((net.apply(p._replace(dW=dW), X) - y) ** 2))(p.dW)
        for a, b in zip(g.dW, auto):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    else:  # the decoupled backward really is a different vector field
        plain = _plain_loss(net, p.U, Ws, Ws, p.v, X, y)
        g_bp = jax.grad(lambda U: _plain_loss(net, U, Ws, Ws, p.v, X, y))(p.U)
        assert plain == pytest.approx(float(loss)) and not np.allclose(g.U, g_bp)


def test_quadrature_covariance_against_monte_carlo():
    S = np.array([[1.0, 0.4, -0.2], [0.4, 0.8, 0.1], [-0.2, 0.1, 1.5]])
    u = np.random.default_rng(0).multivariate_normal(np.zeros(3), S, size=400_000)
    mc = np.tanh(u).T @ np.tanh(u) / len(u)
    np.testing.assert_allclose(gaussian_phi_covariance(np.tanh, S), mc, atol=4e-3)


def test_wide_network_matches_the_infinite_width_recursion():
    """h_L h_Lᵀ/n of width-4096 networks at init vs the n → ∞ recursion, within Monte-Carlo error."""
    X, _ = _data(P=3, d=5)
    L = 4
    net = ResNet.create(2048, L, "tanh", "depth-mup")
    S = resnet_init_covariance(np.tanh, np.asarray(X), L, net.branch_scale)
    emp = []
    for s in range(4):
        h = net.features(net.init(jax.random.PRNGKey(s), 5, jnp.float64), X)
        emp.append(np.asarray(h @ h.T) / net.width)
    emp = np.array(emp)
    se = emp.std(0) / 2 + 1e-3
    assert np.all(np.abs(emp.mean(0) - S) < 5 * se), (emp.mean(0), S)


def test_depth_limit_converges_at_rate_one_over_L():
    X = np.array([[1.0, 0.3], [0.3, 1.0]]) * np.sqrt(2)  # Σ_0 = [[1, .3·?], ...], two inputs
    ref = depth_limit_covariance(np.tanh, X, depth_ref=2048, n_nodes=32)
    Ls = [2, 4, 8, 16, 32]
    err = [np.max(np.abs(resnet_init_covariance(np.tanh, X, L, 1 / np.sqrt(L), 32) - ref)) for L in Ls]
    assert loglog_slope(Ls, err) == pytest.approx(-1.0, abs=0.05)
    assert np.ptp(np.array(err) * Ls) / np.mean(np.array(err) * Ls) < 0.15  # L·err ≈ const


def test_two_layer_block_collapse_and_the_depth_aware_correction():
    """First internal layer's own update ∝ L^{-1/2} under depth-μP; the √L correction restores it
    (and, as the notes warn, the residual stream's update then grows with L)."""
    X, y = _data(P=4, d=8)
    rows = {z: coordinate_check(lambda n, L: ResNet.create(n, L, "tanh", "depth-mup", block_layers=2,
                                                           first_layer_lr_exponent=z),
                                [64], [4, 16, 64], X, y, lr=0.5, seeds=1) for z in (0.0, 0.5)}
    Ls = [r["depth"] for r in rows[0.0]]
    assert loglog_slope(Ls, [r["dz_own"] for r in rows[0.0]]) == pytest.approx(-0.5, abs=0.1)
    assert abs(loglog_slope(Ls, [r["dz_own"] for r in rows[0.5]])) < 0.1
    assert rows[0.5][-1]["dh_L"] > 1.2 * rows[0.5][0]["dh_L"]
    assert all(r["alive"] for rs in rows.values() for r in rs)


def test_coordinate_check_separates_the_parametrizations():
    """Δh_L after one step: Θ(1) in n and L under depth-μP; grows ~L without the 1/√L branch (μP);
    shrinks with width under SP."""
    X, y = _data(P=4, d=8)
    dh = {}
    for par in ("depth-mup", "mup"):
        rows = coordinate_check(lambda n, L: ResNet.create(n, L, "tanh", par), [64, 256], [4, 32], X, y, lr=0.05, seeds=2)
        dh[par] = {key: np.mean([r["dh_L"] for r in rows if (r["width"], r["depth"]) == key])
                   for key in {(r["width"], r["depth"]) for r in rows}}
    d = dh["depth-mup"]
    assert max(d.values()) / min(d.values()) < 1.6
    assert dh["mup"][(256, 32)] / dh["mup"][(256, 4)] > 10
    sp = coordinate_check(lambda n, L: ResNet.create(n, L, "tanh", "sp"), [64, 1024], [4], X, y, lr=0.05, seeds=2)
    small, big = (np.mean([r["dh_L"] for r in sp if r["width"] == n]) for n in (64, 1024))
    assert big / small < 0.6


def test_divergence_is_stopped_with_a_diagnostic():
    X, y = _data()
    X, y = X.astype(jnp.float32), y.astype(jnp.float32)
    net = ResNet.create(32, 4, "relu", "sp")
    p = net.init(jax.random.PRNGKey(0), X.shape[1], X.dtype)
    u = feature_updates(net, p, X, y, lr=1e6, steps=20)
    # the step that produced non-finite values was rejected and recorded
    assert not u["alive"] and 0 <= u["diverged_at"] < 20


@pytest.mark.parametrize("kw,field", [
    ({"width": 0}, "width"), ({"depth": -3}, "depth"), ({"parametrization": "depthmup"}, "parametrization"),
    ({"mode": "feedback"}, "mode"), ({"block_layers": 3}, "block_layers"),
    ({"first_layer_lr_exponent": 0.5}, "first_layer_lr_exponent"),
])
def test_bad_input(kw, field):
    with pytest.raises(ConfigError) as e:
        ResNet.create(**kw)
    assert e.value.field == field  # the library names its own argument; the config layer adds the section


def test_compile_once_per_shape_scan_over_depth():
    """The depth loop is a scan: the jaxpr has one block body whatever L is."""
    X, _ = _data()
    sizes = []
    for L in (2, 32):
        net = ResNet.create(8, L, "tanh", "depth-mup")
        p = net.init(jax.random.PRNGKey(0), X.shape[1], X.dtype)
        sizes.append(len(jax.make_jaxpr(net.apply)(p, X).jaxpr.eqns))
    assert sizes[0] == sizes[1]


def test_coarsening_is_the_euler_maruyama_coupling(x64):
    """Fine (2L blocks) and coarsened (L blocks) networks agree to first order in the branch scale a:
    f_fine − f_coarse = O(a²), whereas an independent depth-L network differs at O(a)."""
    from mflab.networks.resnet import coarsen

    X = jax.random.normal(jax.random.PRNGKey(3), (5, 6), jnp.float64)
    gaps = []
    for a in (1e-2, 1e-3):
        fine = ResNet.create(32, 8, "tanh", "depth-mup", branch_multiplier=a)
        pf = fine.init(jax.random.PRNGKey(0), 6, jnp.float64)
        coarse, pc = coarsen(fine, pf)
        pi = coarse.init(jax.random.PRNGKey(1), 6, jnp.float64)._replace(U=pf.U, v=pf.v)
        h0 = fine.features(pf._replace(W0=tuple(0 * w for w in pf.W0)), X)
        hf, hc, hi = fine.features(pf, X), coarse.features(pc, X), coarse.features(pi, X)
        gaps.append((float(jnp.abs(hf - hc).max()), float(jnp.abs(hf - hi).max()), float(jnp.abs(hf - h0).max())))
        assert coarse.depth == 4 and float(jnp.std(pc.W0[0])) == pytest.approx(1.0, abs=0.05)
    (c1, i1, m1), (c2, i2, m2) = gaps
    assert 60 < c1 / c2 < 160  # quadratic in a
    assert 6 < i1 / i2 < 16 and 6 < m1 / m2 < 16  # linear in a
    with pytest.raises(ConfigError, match="even depth"):
        coarsen(ResNet.create(8, 3), ResNet.create(8, 3).init(jax.random.PRNGKey(0), 2))


def test_first_adam_step_is_a_sign_step_with_the_tabled_rates():
    """Adam's first bias-corrected step is lr·m·g/(|g| + ε) = lr·m·sign(g): U and v move by lr, hidden
    increments by lr/√(nL) under depth-μP (the Adam column of mflab.conventions)."""
    from mflab.dynamics.resnet_training import train
    from mflab.networks.resnet import resnet_mse

    X, y = _data(P=4, d=6)
    n, L, lr = 16, 4, 1e-3
    net = ResNet.create(n, L, "tanh", "depth-mup")
    p = net.init(jax.random.PRNGKey(3), X.shape[1], X.dtype)
    _, g = resnet_mse(net)(p, TrainData(X, y, jnp.full(4, 0.25)), None)
    p1 = train(net, p, X, y, lr, 1, optimizer="adam").params
    sign = lambda g: np.asarray(g) / (np.abs(g) + 1e-8)  # noqa: E731  (optax's default ε)
    np.testing.assert_allclose(p1.U - p.U, -lr * sign(g.U), rtol=1e-6)
    np.testing.assert_allclose(p1.v - p.v, -lr * sign(g.v), rtol=1e-6)
    np.testing.assert_allclose(p1.dW[0], -lr / np.sqrt(n * L) * sign(g.dW[0]), rtol=1e-6)
    np.testing.assert_array_equal(p1.W0[0], p.W0[0])


def test_adam_coordinate_check_depth_mup_is_stable_in_width_and_depth():
    """Under the Adam column, one step moves h_L by Θ(1) in n and L for depth-μP, and by a growing
    amount in L for the μP ResNet without the 1/√L branch."""
    X, y = _data(P=8, d=8)
    dh = {}
    for par in ("depth-mup", "mup"):
        rows = coordinate_check(lambda n, L: ResNet.create(n, L, "tanh", par), [64, 256], [2, 32], X, y, lr=0.01,
                                seeds=2, optimizer="adam")
        dh[par] = {(n, L): np.mean([r["dh_L"] for r in rows if (r["width"], r["depth"]) == (n, L)])
                   for n in (64, 256) for L in (2, 32)}
    assert max(dh["depth-mup"].values()) / min(dh["depth-mup"].values()) < 1.3
    assert dh["mup"][(256, 32)] / dh["mup"][(256, 2)] > 10


def test_vector_readout_loss_sums_the_outputs():
    from mflab.networks.resnet import resnet_mse

    X, _ = _data(P=5, d=6)
    Y = jnp.stack([jnp.sin(X[:, 0]), jnp.cos(X[:, 1]), X[:, 2]], axis=1)
    net = ResNet.create(8, 3, "tanh", "depth-mup")
    p = net.init(jax.random.PRNGKey(0), X.shape[1], X.dtype, n_out=3)
    assert net.apply(p, X).shape == (5, 3)
    loss, _ = resnet_mse(net)(p, TrainData(X, Y, jnp.full(5, 0.2)), None)
    per_output = [resnet_mse(net)(p._replace(v=p.v[:, c]), TrainData(X, Y[:, c], jnp.full(5, 0.2)), None)[0]
                  for c in range(3)]
    np.testing.assert_allclose(loss, sum(per_output), rtol=1e-12)


def _empirical_ntk(net, p, X):
    """Σ_θ m_θ ∂f/∂θ ∂f/∂θᵀ over the trained groups (U, ΔW, v), m_θ from the SGD column."""
    J = jax.jacrev(lambda q: net.apply(q, X))(p)
    mult = net.lr_multipliers(p)
    K = 0.0
    for j, m in zip(jax.tree_util.tree_leaves(J), jax.tree_util.tree_leaves(mult)):
        if m:
            j = j.reshape(X.shape[0], -1)
            K = K + m * j @ j.T
    return np.asarray(K)


def test_init_ntk_recursion_matches_wide_networks_and_predicts_the_first_step():
    """The infinite-width tangent kernel of theory.depth (forward Σ, backward Γ recursions) against
    the empirical NTK of width-1024 networks (seed mean), and −ηKχ against one small SGD step."""
    from mflab.dynamics.resnet_training import train
    from mflab.theory.depth import resnet_init_ntk

    X, y = _data(P=3, d=6)
    X = X * np.sqrt(6) / jnp.linalg.norm(X, axis=1, keepdims=True)
    L, n = 4, 1024
    net = ResNet.create(n, L, "tanh", "depth-mup")
    K_th = resnet_init_ntk(np.tanh, lambda u: 1 - np.tanh(u) ** 2, np.asarray(X), L, net.branch_scale)
    Ks, steps = [], []
    for seed in range(4):
        p = net.init(jax.random.PRNGKey(seed), 6, jnp.float64)
        K = _empirical_ntk(net, p, X)
        Ks.append(K)
        eta = 1e-4
        f0 = net.apply(p, X)
        f1 = net.apply(train(net, p, X, y, eta, 1).params, X)
        chi = 2 * (f0 - y) / 3
        steps.append((np.asarray(f1 - f0), -eta * K @ np.asarray(chi)))
    K_mc = np.mean(Ks, axis=0)
    np.testing.assert_allclose(K_mc, K_th, atol=0.05 * np.abs(K_th).max())
    for df, pred in steps:  # first order in η: the kernel of that very network predicts the step
        np.testing.assert_allclose(df, pred, rtol=1e-3, atol=1e-9)


def test_init_ntk_depth_limit_rate_is_one_over_L():
    from mflab.theory.depth import depth_limit_ntk, resnet_init_ntk

    X = np.random.default_rng(0).standard_normal((3, 5))
    dphi = lambda u: 1 - np.tanh(u) ** 2  # noqa: E731
    ref = depth_limit_ntk(np.tanh, dphi, X, depth_ref=512, n_nodes=24)
    Ls = [4, 8, 16, 32]
    errs = [np.abs(resnet_init_ntk(np.tanh, dphi, X, L, 1 / np.sqrt(L), 24) - ref).max() for L in Ls]
    assert abs(loglog_slope(Ls, errs) + 1) < 0.1
