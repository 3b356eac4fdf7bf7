"""The NFD simulator (mflab.theory.nfd) against references that do not use it: the init recursions of
theory.depth (Gauss-Hermite quadrature), the exact init tangent kernel, and finite ResNets trained
with the same conventions (networks.resnet + dynamics.resnet_training)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.analysis.nfd_comparison import network_trajectories
from mflab.errors import ConfigError
from mflab.networks.resnet import ResNet
from mflab.theory import nfd
from mflab.theory.depth import gaussian_phi_covariance, resnet_init_covariance, resnet_init_ntk
from mflab.theory.nfd import NFDSimulator, simulate

tanh = np.tanh
dtanh = lambda u: 1.0 / np.cosh(u) ** 2  # noqa: E731
Y = np.array([1.0, -1.0, 0.5])


def inputs(dtype=np.float64):
    """Three inputs on the sphere |x|^2 = d = 8, drawn in float32 so that float32 and float64 runs share them."""
    X = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (3, 8), jnp.float32), np.float64)
    return (X / np.linalg.norm(X, axis=1, keepdims=True) * np.sqrt(8.0)).astype(dtype)


def test_init_pass_is_the_init_recursion(x64):
    """Pass 0: K^h and Φ at τ = 1/2 and 1 equal the quadrature recursion Σ_ℓ = Σ_{ℓ-1} + s² E[φφᵀ], and G₀
    equals Γ_0 of the backward recursion Γ_{ℓ-1} = Γ_ℓ ⊙ (1 + s² E[φ'φ'ᵀ](Σ_{ℓ-1})), within Monte-Carlo error
    (M = 40000: about 0.007 on entries of size 1)."""
    X, L = inputs(), 4
    r = simulate(NFDSimulator.create(L, 0, 40000, "tanh", dtype="float64"), X, Y, 0.5, jax.random.key(3), taus=(0.5,))
    assert r.layers == (2,) and r.passes_done == 1
    s = 1 / np.sqrt(L)
    for k, depth in enumerate((2, L)):
        Sig = resnet_init_covariance(tanh, X, depth, s)
        np.testing.assert_allclose(r.Kh[0, k], Sig, atol=0.03)
        np.testing.assert_allclose(r.Phi[0, k], gaussian_phi_covariance(tanh, Sig), atol=0.02)
    Sigs = [resnet_init_covariance(tanh, X, ell, s) for ell in range(L + 1)]
    G = gaussian_phi_covariance(dtanh, Sigs[L])
    for ell in range(L, 0, -1):
        G = G * (1 + s**2 * gaussian_phi_covariance(dtanh, Sigs[ell - 1]))
    np.testing.assert_allclose(r.G0[0], G, atol=0.03)
    assert np.all(np.isfinite(r.f[0])) and np.max(np.abs(r.f[0])) < 0.03  # f_0 = E[V(0)] E[φ] = 0


def test_responses_do_not_act_at_init():
    """The three response modes share pass 0 exactly (A = B = 0 there): same key, same numbers."""
    X = inputs(np.float32)
    runs = [simulate(NFDSimulator.create(3, 1, 2048, "tanh", responses=m), X, Y, 0.5, jax.random.key(1))
            for m in nfd.RESPONSES]
    for r in runs[1:]:
        for a, b in ((r.f[0], runs[0].f[0]), (r.Kh[0], runs[0].Kh[0]), (r.G0[0], runs[0].G0[0])):
            np.testing.assert_array_equal(a, b)
    # the first step is where they part: the forward response is first order in η
    assert np.max(np.abs(runs[0].f[1] - runs[2].f[1])) > 0.02


def test_first_step_is_the_init_tangent_kernel(x64):
    """(f₁ − f₀)/η → K e₀ as η → 0 with both responses (K the exact init tangent kernel of theory.depth);
    without responses the step falls short by about a fifth (spec §5: 0.8 of it)."""
    X, L, eta = inputs(), 4, 1e-3
    K = resnet_init_ntk(tanh, dtanh, X, L, 1 / np.sqrt(L))
    step = {}
    for mode in ("both", "none"):
        r = simulate(NFDSimulator.create(L, 1, 40000, "tanh", responses=mode, dtype="float64"), X, Y, eta,
                     jax.random.key(5))
        step[mode] = (r.f[1] - r.f[0]) / eta
        Ke = K @ (-(2 / 3) * (r.f[0] - Y))
    np.testing.assert_allclose(step["both"], Ke, atol=0.03)
    ratio = step["none"] / Ke
    assert np.all((ratio > 0.7) & (ratio < 0.9)), ratio


def test_limits_of_backprop_and_decoupled_networks():
    """After two GD steps at η = 0.5 (L = 4): backprop networks of width 512 sit on the `both` system and
    decoupled ones on the `none` system (within 3.5 standard errors plus a 1/n allowance), while the two
    systems are apart by many standard errors. The networks are the independent reference."""
    X, L, steps = inputs(np.float32), 4, 2
    sims = {m: simulate(NFDSimulator.create(L, steps, 60000, "tanh", responses=m), X, Y, 0.5, jax.random.key(7))
            for m in ("both", "none")}
    keys = jax.random.split(jax.random.key(11), 8)
    for mode, system in (("backprop", "both"), ("decoupled", "none")):
        net = ResNet.create(512, L, "tanh", "depth-mup", mode=mode)
        tr = network_trajectories(net, jnp.asarray(X), jnp.asarray(Y, jnp.float32), 0.5, steps, keys)
        d = tr["f"][:, steps] - tr["f"][:, 0]
        mean, se = d.mean(0), d.std(0, ddof=1) / np.sqrt(len(d))
        sim_d = sims[system].f[steps] - sims[system].f[0]
        other = sims["none" if system == "both" else "both"]
        assert np.all(np.abs(mean - sim_d) < 3.5 * se + 0.01), (mode, mean, se, sim_d)
        assert np.max(np.abs(mean - (other.f[steps] - other.f[0])) / se) > 4, (mode, mean, se)


def test_spectator_inputs_and_collinear_inputs():
    """A test input equal to a training input follows it exactly (its slots are the training slots' copies),
    and two identical training inputs (a singular K^x) give identical, finite outputs: the floors at work."""
    X = inputs(np.float32)
    sim = NFDSimulator.create(4, 3, 8192, "tanh")
    r = simulate(sim, X, Y, 0.5, jax.random.key(2), X_test=X[:1])
    assert r.f.shape == (4, 4) and r.G0.shape == (4, 3, 3)
    np.testing.assert_allclose(r.f[:, 3], r.f[:, 0], atol=2e-4)
    Xd = np.concatenate([X[:1], X[:1], X[1:2]])
    rd = simulate(sim, Xd, np.array([1.0, 1.0, -1.0]), 0.5, jax.random.key(2))
    assert rd.stop_reason == "completed" and np.all(np.isfinite(rd.f))
    np.testing.assert_allclose(rd.f[:, 0], rd.f[:, 1], atol=2e-4)


def test_divergence_stops_and_keeps_earlier_passes():
    X = inputs(np.float32)
    r = simulate(NFDSimulator.create(4, 8, 4096, "tanh"), X, Y, 40.0, jax.random.key(0))
    assert r.stop_reason.startswith("diverged") and 1 <= r.passes_done < 9
    assert np.all(np.isfinite(r.f[:r.passes_done])) and np.all(np.isnan(r.f[r.passes_done:]))


def test_psd_diagnostic():
    sq, neg = nfd._sqrt_psd(jnp.array([[1.0, 0.0], [0.0, -0.5]]), 1e-10)
    assert neg == pytest.approx(-0.5)
    np.testing.assert_allclose(sq @ sq, [[1.0, 0.0], [0.0, 0.0]], atol=1e-6)
    r = simulate(NFDSimulator.create(2, 1, 1024, "tanh", psd_tolerance=-1.0), inputs(np.float32), Y, 0.5,
                 jax.random.key(0))
    assert r.passes_done == 0 and r.stop_reason == "non-PSD conditional covariance"


@pytest.mark.parametrize("kwargs, field", [
    (dict(depth=0), "depth"), (dict(steps=-1), "steps"), (dict(particles=0), "particles"),
    (dict(particles=2.5), "particles"), (dict(responses="forwards"), "responses"), (dict(activation="tanhh"), "activation"),
    (dict(branch_multiplier=-1.0), "branch_multiplier"), (dict(dtype="int32"), "dtype"), (dict(eig_floor=2.0), "eig_floor"),
])
def test_bad_configuration_is_one_line(kwargs, field):
    args = dict(depth=4, steps=2, particles=1024) | kwargs
    with pytest.raises(ConfigError) as e:
        NFDSimulator.create(**args)
    assert e.value.field == field and "\n" not in str(e.value)


def test_bad_inputs_and_memory_are_refused_up_front():
    sim = NFDSimulator.create(4, 2, 1024)
    X = inputs(np.float32)
    for kwargs, field in ((dict(lr=-0.1), "lr"), (dict(lr=float("nan")), "lr"), (dict(y=Y[:2]), "y"),
                          (dict(X_test=np.ones((1, 3))), "X_test"), (dict(taus=(1.5,)), "taus"),
                          (dict(X=X[:, :, None]), "X"), (dict(y=np.array([1.0, np.nan, 0.0])), "y"),
                          (dict(X_test=np.full((1, 8), np.inf)), "X_test")):
        args = dict(X=X, y=Y, lr=0.5, key=jax.random.key(0)) | kwargs
        with pytest.raises(ConfigError) as e:
            simulate(sim, **args)
        assert e.value.field == field
    big = NFDSimulator.create(32, 10, 250_000)
    with pytest.raises(ConfigError, match="particles <= ") as e:
        nfd.check_memory(big, 8, available=8 * 2**30)
    assert e.value.field == "particles" and "GiB" in str(e.value)


def test_regression_responses_match_the_exact_forward_mode_ones(x64):
    """The Stein-regression responses A, B against per-particle forward-mode derivatives of the replayed
    particles (population coefficients frozen): the replay reproduces the stored particles to round-off,
    and the response *terms* Ĝ_ℓ[<t] A and φ(H_{ℓ-1}[≤t]) B agree (relative rms < 0.12 and < 0.25 at
    M = 4·10⁴; measured 0.02-0.09 and 0.06-0.21 at M = 2·10⁴-8·10⁴, shrinking like M^-1/2). Individual
    coefficients on nearly collinear slots are not identified by least squares; their products are.
    At pass 0 the exact B vanishes within its error (gradient independence at init)."""
    X, L, T1, Q = inputs(), 3, 3, 3
    sim = NFDSimulator.create(L, T1 - 1, 40000, "tanh", dtype="float64")
    _, it = nfd.simulate_internals(sim, X, Y, 0.5, jax.random.key(0))
    st = it.store
    H, G = nfd.replay_particles(sim, X, Y, 0.5, it, st["ZF"][:, :64], st["ZB"][:, :64], st["U"][:64], st["V0"][:64])
    np.testing.assert_allclose(H, st["H"][:, :64], atol=1e-10)
    np.testing.assert_allclose(G, st["G"][:, :64], atol=1e-10)
    ex = nfd.exact_responses(sim, X, Y, 0.5, it, particles=3000)
    assert np.all(np.abs(ex["B"][0]) < 4 * ex["B_se"][0] + 1e-12)
    flat = lambda a: np.asarray(a).reshape(a.shape[0], -1)  # noqa: E731
    rel = lambda a, b: np.sqrt(np.mean((a - b) ** 2) / np.mean(b**2))  # noqa: E731
    slot_pass = np.repeat(np.arange(T1), Q)
    for t in (1, 2):
        for ell in range(L):
            Gs = flat(st["G"][ell + 1]) * (slot_pass < t)
            Ph = np.tanh(flat(st["H"][ell])) * (slot_pass <= t)
            term_a = Gs @ ex["A"][t, ell]
            term_b = Ph @ ex["B"][t, ell]
            assert np.sqrt(np.mean(term_a**2)) > 0.03 and np.sqrt(np.mean(term_b**2)) > 0.03  # not trivially small
            assert rel(Gs @ np.asarray(it.coefficients["A"][t, ell]), term_a) < 0.12, (t, ell)
            assert rel(Ph @ np.asarray(it.coefficients["B"][t, ell]), term_b) < 0.25, (t, ell)
