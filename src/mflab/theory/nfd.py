r"""The Neural Feature Dynamics simulator: the infinite-width training dynamics of a depth-μP ResNet at
depth L (L layer-slices of layer-time τ = ℓ/L), by Monte Carlo over M single-site particles.

Specification: ``shared/papers/C2_nfd_simulator.md`` (a derivation from Tensor Programs VI, Yang,
Yu, Zhu & Hayou 2023, Def. 4.1, Prop. 4.2/4.4, App. D.2). Network and rates: Form A of
:mod:`mflab.conventions` under ``depth-mup``, exactly :class:`mflab.networks.resnet.ResNet` with
one-layer blocks: h_0 = Ux/√d, h_ℓ = h_{ℓ−1} + s W_ℓ φ(h_{ℓ−1})/√n with s = a/√L, f = vᵀφ(h_L)/n,
full-batch GD at rate η·n on every group, loss (1/P) Σ_μ (f(x_μ) − y_μ)² (no ½), so the error
signal is e_t(μ) = −(2/P)(f_t(x_μ) − y_μ) (:func:`mflab.conventions.mse_error_signal`).

The single-site process (one particle = one width coordinate; a *slot* is a (forward pass r, input μ)
pair, Ĝ_ℓ = n ∂f/∂h_ℓ)::

    H_0(t) = U + η Σ_{r<t} e_r K^x Ĝ_0(r)                                   U ~ N(0, K^x = XXᵀ/d)
    H_ℓ(t) = H_{ℓ−1}(t) + s [Z^F_ℓ(t) + Σ_{r<t} A_ℓ(t; r) Ĝ_ℓ(r)] + η s² Σ_{r<t} e_r Φ_{ℓ−1}(r; t) Ĝ_ℓ(r)
    V(t) = V(0) + η Σ_{r<t} e_r φ(H_L(r)),      f_t = E[V(t) φ(H_L(t))]
    Ĝ_L(t) = V(t) φ'(H_L(t))
    Ĝ_{ℓ−1}(t) = Ĝ_ℓ(t) + s φ'(H_{ℓ−1}(t)) [Z^B_ℓ(t) + Σ_{r≤t} B_ℓ(t; r) φ(H_{ℓ−1}(r))
                                          + η s Σ_{r<t} e_r G_ℓ(r; t) φ(H_{ℓ−1}(r))]

Z^F_ℓ, Z^B_ℓ are centred Gaussian fields over slots with covariances Φ_{ℓ−1} = E[φ(H_{ℓ−1}) φ(H_{ℓ−1})ᵀ]
and G_ℓ = E[Ĝ_ℓ Ĝ_ℓᵀ], independent across layers. W_ℓ(0) is reused at every step, so the field of
pass t is drawn from its Gaussian conditional given the same layer's earlier draws. The response
functions are Stein regression coefficients (the spec's §2),

    A_ℓ(t; ·) = Cov(φ(H_{ℓ−1}(t)), Z^B_ℓ(<t)) Cov(Z^B_ℓ(<t))⁻¹     (forward response)
    B_ℓ(t; ·) = Cov(Ĝ_ℓ(t), Z^F_ℓ(≤t)) Cov(Z^F_ℓ(≤t))⁻¹            (backward response)

estimated by least squares over the particles with the exact control variates φ(H_{ℓ−1}(0)) and
Ĝ_ℓ(0) subtracted (their Stein coefficients vanish in the limit). ``responses``: ``"both"`` is the
limit of backprop (the NFD at L → ∞), ``"forward"`` keeps A only (the limit with the backward
coupling removed), ``"none"`` sets A = B = 0 (the limit of the ``decoupled`` network). The
algorithm is causal in (pass, layer): no fixed-point iteration. Its error in L is the Euler error
O(1/L) of the layer-time limit; its Monte-Carlo error is O(M^{-1/2}).

Numerics. Every covariance is a particle average FᵀF/M (PSD by construction). Pseudo-inverses
and square roots go through an eigendecomposition that drops eigenvalues below ``eig_floor`` ×
the largest (default 1e-10 in float64, 1e-5 in float32: a tiny η makes the field of pass t almost
collinear with pass 0, with relative conditional variance ~η², which float32 cannot resolve below
η ≈ 3·10⁻³; use float64 there). A conditional covariance whose negative part exceeds
``psd_tolerance`` of its scale, or any non-finite value, stops the run at that pass; the passes
before it are kept (:attr:`NFDResult.passes_done`, :attr:`NFDResult.stop_reason`).

Test inputs (``X_test``) are spectators: their slots are drawn jointly with the training slots,
they carry no error signal and no backward vector, and the regressions use training slots only, so
the training dynamics has the same law with or without them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..conventions import mse_error_signal, nfd_branch_scale
from ..resources import available_memory_bytes
from ..errors import ConfigError, suggest
from ..networks.activations import Activation, get_activation

RESPONSES = ("both", "forward", "none")
STOP_REASONS = ("completed", "diverged (a non-finite value, or |f - y| beyond divergence_bound)",
                "non-PSD conditional covariance")
_RESPONSE_FLAGS = {"both": (True, True), "forward": (True, False), "none": (False, False)}


class NFDResult(NamedTuple):
    """Per forward pass t = 0 … steps (f_0 at init; pass t follows t GD steps). Q = P (+ test) inputs,
    training inputs first. Entries after :attr:`passes_done` are NaN."""

    f: np.ndarray  # (steps+1, Q) outputs E[V(t) φ(H_L(t))]
    Phi: np.ndarray  # (steps+1, len(taus)+1, Q, Q) E[φ(H)φ(H)ᵀ] at the chosen layer-times, then at τ = 1
    Kh: np.ndarray  # (steps+1, len(taus)+1, Q, Q) E[H Hᵀ] at the same layers
    G0: np.ndarray  # (steps+1, P, P) input-layer gradient kernel E[Ĝ_0 Ĝ_0ᵀ] (training inputs)
    layers: tuple  # the layer indices ℓ of the Phi / Kh rows (τ = ℓ / L)
    passes_done: int
    stop_reason: str
    min_eig_ratio: float  # min over the conditional covariances of λ_min / λ_max (< 0: the PSD diagnostic)


@dataclass(frozen=True)
class NFDSimulator:
    """Static description of one simulator (hashable: a jit static argument). Build with :meth:`create`."""

    depth: int
    steps: int
    particles: int
    activation: Activation
    branch_multiplier: float = 1.0
    responses: str = "both"
    eig_floor: float = 1e-5
    psd_tolerance: float = 1e-3
    dtype: str = "float32"
    noise_depth: int | None = None  # draw layer noise on this finer grid and sum it (common random numbers in L)

    @staticmethod
    def create(depth: int, steps: int, particles: int, activation="tanh", branch_multiplier: float = 1.0,
               responses: str = "both", dtype="float32", eig_floor: float | None = None,
               psd_tolerance: float = 1e-3, noise_depth: int | None = None) -> "NFDSimulator":
        """Validated construction; every bad value is a one-line :class:`~mflab.errors.ConfigError`.

        ``noise_depth`` (a multiple of ``depth``): the standard normals of slice ℓ are the normalised sums
        of those of the fine slices it covers on a ``noise_depth`` grid (keyed by the fine index), so runs
        at different depths with one key share their Brownian increments, as coarse and fine Euler
        schemes of one SDE do. This is what resolves the O(1/L) Euler error above the Monte-Carlo noise."""
        for name, v in (("depth", depth), ("steps", steps), ("particles", particles)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "steps" else 1):
                low = "a non-negative" if name == "steps" else "a positive"
                raise ConfigError(name, f"must be {low} integer, got {v!r}", f"e.g. {name} = "
                                  + {"depth": "16", "steps": "3", "particles": "100000"}[name])
        if particles < 16:
            raise ConfigError("particles", f"needs at least 16 particles for its covariances, got {particles}",
                              "use particles >= 10000 for results (the Monte-Carlo error is O(M^-1/2))")
        if responses not in RESPONSES:
            raise ConfigError("responses", f"unknown response mode '{responses}'", suggest(responses, RESPONSES))
        if not (isinstance(branch_multiplier, (int, float)) and math.isfinite(branch_multiplier)
                and branch_multiplier > 0):
            raise ConfigError("branch_multiplier", f"must be a finite number > 0, got {branch_multiplier!r}", "e.g. 1.0")
        dt = jnp.dtype(dtype).name
        if dt not in ("float32", "float64"):
            raise ConfigError("dtype", f"must be float32 or float64, got {dtype!r}", "dtype = 'float32' (or 'float64' for tests)")
        if dt == "float64" and not jax.config.jax_enable_x64:
            raise ConfigError("dtype", "float64 needs JAX's x64 mode", "jax.config.update('jax_enable_x64', True) first")
        if noise_depth is not None and (isinstance(noise_depth, bool) or not isinstance(noise_depth, (int, np.integer))
                                        or noise_depth < depth or noise_depth % depth):
            raise ConfigError("noise_depth", f"must be a multiple of depth = {depth}, got {noise_depth!r}",
                              f"e.g. noise_depth = {64 * depth if depth < 64 else depth} (or None)")
        floor = (1e-10 if dt == "float64" else 1e-5) if eig_floor is None else float(eig_floor)
        if not 0 < floor < 1:
            raise ConfigError("eig_floor", f"must be in (0, 1), got {eig_floor!r}", "leave it None (1e-10 / 1e-5)")
        return NFDSimulator(int(depth), int(steps), int(particles), get_activation(activation),
                            float(branch_multiplier), responses, floor, float(psd_tolerance), dt,
                            None if noise_depth is None else int(noise_depth))

    @property
    def branch_scale(self) -> float:
        """s = a/√L (:func:`mflab.conventions.nfd_branch_scale`)."""
        return nfd_branch_scale(self.branch_multiplier, self.depth)

    def memory_bytes(self, n_inputs: int) -> int:
        """Peak bytes of a run: the particle storage (H, Ĝ over L+1 layers and Z^F, Z^B over L, every slot)
        ×3. Measured peak resident memory above the imports: 2.4–2.6× the storage at (L, T, M, P) =
        (16, 3, 2·10⁵, 3), (32, 3, 10⁵, 3), (64, 3, 10⁵, 3), (8, 9, 5·10⁴, 8) (benchmarks/nfd_simulator.py)."""
        slots = (self.steps + 1) * int(n_inputs)
        return int(3 * 4 * (self.depth + 1) * self.particles * slots * jnp.dtype(self.dtype).itemsize)


def check_memory(sim: NFDSimulator, n_inputs: int, available: int | None = None):
    """Refuse up front a run whose storage exceeds 80 % of the machine's memory, naming the number and the fix."""
    need = sim.memory_bytes(n_inputs)
    have = available_memory_bytes() if available is None else int(available)
    if need > 0.8 * have:
        fit = max(16, int(sim.particles * 0.8 * have / need))
        raise ConfigError("particles", f"M = {sim.particles} particles at L = {sim.depth}, {sim.steps + 1} passes x "
                          f"{n_inputs} inputs need {need / 2**30:.1f} GiB, this machine has {have / 2**30:.1f} GiB",
                          f"use particles <= {fit}, or fewer steps / inputs / layers")


# --- linear algebra with floors ---------------------------------------------------------------------
def _eig_floored(C, floor):
    lam, V = jnp.linalg.eigh(C)
    scale = jnp.maximum(jnp.max(jnp.abs(lam)), jnp.finfo(C.dtype).tiny)
    return lam, V, lam > floor * scale, scale


def _pinv(C, floor):
    lam, V, keep, _ = _eig_floored(C, floor)
    return (V * jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0)) @ V.T


def _sqrt_psd(C, floor):
    """Symmetric square root of a PSD matrix (eigenvalues below the floor dropped), and the most negative
    eigenvalue relative to the largest (a PSD diagnostic)."""
    lam, V, keep, scale = _eig_floored(C, floor)
    return (V * jnp.where(keep, jnp.sqrt(jnp.where(keep, lam, 0.0)), 0.0)) @ V.T, jnp.min(lam) / scale


def _conditional_draw(Z, C, past, t, n, xi, floor):
    """Draws of the current slots (pass t, n inputs each) of a centred Gaussian field with slot covariance
    C (S, S), given the same particles' past draws Z (M, S, zero outside ``past``); ``xi`` (M, n) standard
    normals. Returns (M, n) and the PSD diagnostic of the conditional covariance."""
    rows = jax.lax.dynamic_slice_in_dim(C, t * n, n, axis=0)  # (n, S)
    C_cp = rows * past[None, :]
    C_cc = jax.lax.dynamic_slice_in_dim(rows, t * n, n, axis=1)
    reg = C_cp @ _pinv(C * past[:, None] * past[None, :], floor)  # (n, S)
    cond = C_cc - reg @ C_cp.T
    sq, neg = _sqrt_psd(0.5 * (cond + cond.T), floor)
    return Z @ reg.T + xi @ sq, neg


def _regress(Z, F, floor):
    """Least-squares coefficients (S, n) of F (M, n) on the columns of Z (M, S; zero columns carry
    nothing), with an intercept: the Stein estimate of E[∂F/∂Z]."""
    M = Z.shape[0]
    Zc = Z - Z.mean(0)
    Fc = F - F.mean(0)
    return _pinv(Zc.T @ Zc / M, floor) @ (Zc.T @ Fc / M)


# --- the simulator ----------------------------------------------------------------------------------
def _pass_fn(sim: NFDSimulator, X, y, n_train: int, lr, key):
    """The pass kernel ``one_pass(st, t, given=None) -> (st, rec, coefficients)`` and the initial store.

    With ``given=None`` the population coefficients of pass t (the fields' draws, the responses A, B and
    the kernel-drift matrices D^F = e ⊙ Φ_{ℓ−1}[:, t], D^B = e ⊙ G_ℓ[:, t]) are computed from the particles
    (the simulator). With ``given`` they are supplied, and the same updates replay particles whose
    fields are inputs: :func:`replay_particles`, which differentiates them for the exact responses."""
    L, T1 = sim.depth, sim.steps + 1
    Q = X.shape[0]
    S = T1 * Q
    dt = X.dtype
    phi, dphi = sim.activation.fn, sim.activation.deriv
    s = jnp.asarray(sim.branch_scale, dt)
    fwd_on, bwd_on = _RESPONSE_FLAGS[sim.responses]
    floor = sim.eig_floor
    train = (jnp.arange(Q) < n_train).astype(dt)  # (Q,)
    train_slots = jnp.tile(train, T1)  # (S,)
    pass_of_slot = jnp.repeat(jnp.arange(T1), Q)  # (S,)
    Kx = X @ X.T / X.shape[1]
    Kx_slots = jnp.tile(Kx, (T1, 1))  # (S, Q): row (r, μ) is K^x[μ, :]
    kU, kV, kF, kB = jax.random.split(key, 4)
    flat = lambda a: a.reshape(a.shape[0], S)  # noqa: E731  (M, T1, Q) -> (M, S)
    cur_cols = lambda C, t: jax.lax.dynamic_slice_in_dim(C, t * Q, Q, axis=1)  # noqa: E731
    ell = jnp.arange(1, L + 1)
    fine = 1 if sim.noise_depth is None else sim.noise_depth // L
    no_response = jnp.zeros((S, Q), dt)

    def normals(base, t, l, m):
        """(m, Q) standard normals of slice l at pass t: the normalised sum of its ``fine`` sub-slices'."""
        k = jax.random.fold_in(base, t)
        subs = (l - 1) * fine + 1 + jnp.arange(fine)
        draws = jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(k, j), (m, Q), dt))(subs)
        return draws.sum(0) / jnp.sqrt(jnp.asarray(fine, dt))

    def init_store(m, U, V0):
        zeros = lambda k: jnp.zeros((k, m, T1, Q), dt)  # noqa: E731
        return dict(H=zeros(L + 1), G=zeros(L + 1), ZF=zeros(L), ZB=zeros(L), E=jnp.zeros((T1, Q), dt), U=U, V0=V0)

    def one_pass(st, t, given=None):
        m = st["U"].shape[0]
        past = (pass_of_slot < t).astype(dt)
        upto = (pass_of_slot <= t).astype(dt)
        e_past = st["E"].reshape(S) * past

        # forward sweep: H_ℓ = H_{ℓ−1} + s (Z^F + Ĝ_ℓ[<t] A) + η s² Ĝ_ℓ[<t] D^F ------------------------
        h0 = st["U"] + lr * flat(st["G"][0]) @ (e_past[:, None] * Kx_slots)

        def fwd_layer(h, xs):
            Hs, ZF, ZB, Gs, l, gv = xs  # Hs: stored H_{ℓ-1}; Gs: stored Ĝ_ℓ (passes < t)
            if gv is None:
                Hfull = jax.lax.dynamic_update_index_in_dim(Hs, h, t, axis=1)
                P_ = flat(phi(Hfull)) * upto
                Phi = P_.T @ P_ / m
                z, neg = _conditional_draw(flat(ZF), Phi, past, t, Q, normals(kF, t, l, m), floor)
                A = no_response
                if fwd_on:
                    F = phi(h) - phi(Hfull[:, 0])  # control variate: φ(H(0)) is independent of Z^B
                    A = _regress(flat(ZB) * (past * train_slots), F, floor)
                D = e_past[:, None] * cur_cols(Phi, t)
            else:
                z, A, D, neg = gv["zf"], gv["A"], gv["DF"], jnp.zeros((), dt)
            return h + s * (z + flat(Gs) @ A) + lr * s * s * (flat(Gs) @ D), (h, z, neg, A, D)

        gf = None if given is None else {k: given[k] for k in ("zf", "A", "DF")}
        hL, (h_prev, zf, neg_f, A, DF) = jax.lax.scan(
            fwd_layer, h0, (st["H"][:-1], st["ZF"], st["ZB"], st["G"][1:], ell, gf))
        H = st["H"].at[:, :, t].set(jnp.concatenate([h_prev, hL[None]]))
        ZFs = st["ZF"].at[:, :, t].set(zf)

        # output: V(t) = V(0) + η Σ_{r<t} e_r φ(H_L(r)), f_t = E[V(t) φ(H_L(t))] -------------------------
        V = st["V0"] + lr * (flat(phi(H[L])) * past) @ e_past
        f = jnp.mean(V[:, None] * phi(hL), axis=0)
        e = mse_error_signal(f, y, n_train) * train if given is None else given["e"]
        E = st["E"].at[t].set(e)

        # backward sweep (ℓ = L … 1): Ĝ_{ℓ−1} = Ĝ_ℓ + s φ'(H_{ℓ−1}) (Z^B + φ(H_{ℓ−1}[≤t]) B + η s φ(H_{ℓ−1}[<t]) D^B)
        gL = V[:, None] * dphi(hL) * train

        def bwd_layer(g, xs):
            Hs, ZF, ZB, Gs, l, gv = xs  # Hs: H_{ℓ-1} (pass t included); Gs: stored Ĝ_ℓ (passes < t)
            if gv is None:
                Gfull = flat(jax.lax.dynamic_update_index_in_dim(Gs, g, t, axis=1)) * upto
                Gk = Gfull.T @ Gfull / m
                z, neg = _conditional_draw(flat(ZB), Gk, past, t, Q, normals(kB, t, l, m), floor)
                B = no_response
                if bwd_on:
                    F = g - Gfull[:, :Q]  # control variate: E[∂Ĝ(0)/∂Z^F] = 0 (gradient independence at init)
                    B = _regress(flat(ZF) * (upto * train_slots), F, floor)
                D = e_past[:, None] * cur_cols(Gk, t)
            else:
                z, B, D, neg = gv["zb"], gv["B"], gv["DB"], jnp.zeros((), dt)
            phis = flat(phi(Hs))
            inner = z + (phis * upto) @ B + lr * s * (phis * past) @ D
            return g + s * dphi(Hs[:, t]) * inner, (g, z, neg, B, D)

        gb = None if given is None else {k: given[k] for k in ("zb", "B", "DB")}
        g0, (g_l, zb, neg_b, B, DB) = jax.lax.scan(
            bwd_layer, gL, (H[:-1], ZFs, st["ZB"], st["G"][1:], ell, gb), reverse=True)
        G = st["G"].at[:, :, t].set(jnp.concatenate([g0[None], g_l]))
        ZBs = st["ZB"].at[:, :, t].set(zb)
        rec = dict(f=f, neg=jnp.minimum(jnp.min(neg_f), jnp.min(neg_b)))
        coef = dict(A=A, B=B, DF=DF, DB=DB, e=e)
        return dict(st, H=H, G=G, ZF=ZFs, ZB=ZBs, E=E), rec, coef

    U = jax.random.normal(kU, (sim.particles, Q), dt) @ _sqrt_psd(Kx, floor)[0]
    V0 = jax.random.normal(kV, (sim.particles,), dt)
    return one_pass, init_store, init_store(sim.particles, U, V0)


def _simulate(sim: NFDSimulator, X, y, n_train: int, lr, key, layers: tuple, bound, internals: bool = False):
    M, L, T1 = sim.particles, sim.depth, sim.steps + 1
    phi = sim.activation.fn
    one_pass, _, store0 = _pass_fn(sim, X, y, n_train, lr, key)

    def body(carry, t):
        st, ok = carry
        new, rec, coef = one_pass(st, t)
        Ht = new["H"][jnp.asarray(layers + (L,))][:, :, t]  # (k, M, Q)
        Pt = phi(Ht)
        g0 = new["G"][0][:, t]
        rec.update(Phi=jnp.einsum("kmp,kmq->kpq", Pt, Pt) / M, Kh=jnp.einsum("kmp,kmq->kpq", Ht, Ht) / M,
                   G0=(g0.T @ g0 / M)[:n_train, :n_train])
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in rec.values()]))
        finite = finite & (jnp.max(jnp.abs(rec["f"] - y)) < bound)
        psd = rec["neg"] > -sim.psd_tolerance
        good = ok & finite & psd
        st = jax.tree_util.tree_map(lambda a, b: jnp.where(good, a, b), new, st)
        code = jnp.where(ok & ~finite, 1, jnp.where(ok & ~psd, 2, 0))
        return (st, good), (rec, good, code) + ((coef,) if internals else ())

    (st, _), out = jax.lax.scan(body, (store0, jnp.asarray(True)), jnp.arange(T1))
    return out + ((st,) if internals else ())


_simulate_jit = jax.jit(_simulate, static_argnums=(0, 3, 6, 8))


class NFDInternals(NamedTuple):
    """What :func:`simulate_internals` keeps: the population coefficients of every pass (A, B, D^F, D^B
    of shape (passes, L, S, Q); e of shape (passes, Q)) and the final particle store (H, Ĝ over L+1 layers,
    Z^F, Z^B over L, each (·, M, passes, Q); U (M, Q); V0 (M,))."""

    coefficients: dict
    store: dict


def simulate_internals(sim: NFDSimulator, X, y, lr: float, key):
    """A diagnostic run (training inputs only, no divergence handling beyond the records) that also returns
    :class:`NFDInternals`: for cross-checks such as :func:`exact_responses`. Memory is the full store."""
    dt = jnp.dtype(sim.dtype)
    X, y = jnp.asarray(X, dt), jnp.asarray(y, dt).reshape(-1)
    recs, good, code, coef, st = _simulate_jit(sim, X, y, X.shape[0], jnp.asarray(lr, dt), key, (), jnp.asarray(jnp.inf, dt),
                                              True)
    return recs, NFDInternals(coef, st)


def replay_particles(sim: NFDSimulator, X, y, lr: float, internals: NFDInternals, ZF, ZB, U, V0):
    """Re-run particles through the simulator's own pass updates with every population coefficient frozen at
    its simulated value and the fields Z^F, Z^B (L, m, passes, Q) given as inputs. Returns the particles'
    H and Ĝ (L+1, m, passes, Q). With the stored fields it reproduces the stored particles; its derivative
    in the fields is each particle's exact response (:func:`exact_responses`)."""
    dt = jnp.dtype(sim.dtype)
    X, y = jnp.asarray(X, dt), jnp.asarray(y, dt).reshape(-1)
    one_pass, init_store, _ = _pass_fn(sim, X, y, X.shape[0], jnp.asarray(lr, dt), jax.random.key(0))
    c = internals.coefficients

    def body(st, t):
        given = dict(zf=ZF[:, :, t], zb=ZB[:, :, t], A=c["A"][t], B=c["B"][t], DF=c["DF"][t], DB=c["DB"][t], e=c["e"][t])
        st, _, _ = one_pass(st, t, given)
        return st, None

    st, _ = jax.lax.scan(body, init_store(U.shape[0], U, V0), jnp.arange(sim.steps + 1))
    return st["H"], st["G"]


def exact_responses(sim: NFDSimulator, X, y, lr: float, internals: NFDInternals, particles: int = 1000):
    """Forward-mode estimate of the responses on the first ``particles`` particles (a cross-check of the
    Stein regression; cost O(L² T² P²) per particle):

        A_ℓ(t; r, μ → ν) = mean_i ∂φ(H_{ℓ−1}(t, ν))/∂Z^B_ℓ(r, μ),   B_ℓ(t; …) = mean_i ∂Ĝ_ℓ(t, ν)/∂Z^F_ℓ(r, μ).

    Returns dicts ``A``, ``B`` of arrays (passes, L, S, Q) in the layout of ``internals.coefficients`` (the
    regression's values), with their standard errors ``A_se``, ``B_se`` over particles."""
    st = internals.store
    L, T1, Q = sim.depth, sim.steps + 1, st["U"].shape[1]
    phi = sim.activation.fn

    def one(zf, zb, u, v0):
        def outputs(zf, zb):
            H, G = replay_particles(sim, X, y, lr, internals, zf[:, None], zb[:, None], u[None], v0[None])
            return phi(H[:, 0]), G[:, 0]  # (L+1, T1, Q)

        dphi_dzb = jax.jacfwd(lambda zb: outputs(zf, zb)[0])(zb)  # (L+1, T1, Q, L, T1, Q)
        dg_dzf = jax.jacfwd(lambda zf: outputs(zf, zb)[1])(zf)
        ls = jnp.arange(L)
        # layer ℓ = ls + 1: φ(H_{ℓ-1}) against Z^B_ℓ, Ĝ_ℓ against Z^F_ℓ; reorder to (ℓ, t, (r, μ), ν)
        a = dphi_dzb[ls, :, :, ls]  # (L, T1, Q_out, T1, Q_in)
        b = dg_dzf[ls + 1, :, :, ls]
        reorder = lambda x: jnp.transpose(x, (1, 0, 3, 4, 2)).reshape(T1, L, T1 * Q, Q)  # noqa: E731
        return reorder(a), reorder(b)

    k = int(particles)
    a, b = jax.jit(jax.vmap(one))(jnp.moveaxis(st["ZF"][:, :k], 1, 0), jnp.moveaxis(st["ZB"][:, :k], 1, 0),
                                  st["U"][:k], st["V0"][:k])
    se = lambda x: np.asarray(jnp.std(x, axis=0) / np.sqrt(k))  # noqa: E731
    return {"A": np.asarray(a.mean(0)), "A_se": se(a), "B": np.asarray(b.mean(0)), "B_se": se(b)}


def default_divergence_bound(y) -> float:
    """|f − y| beyond 10³ (1 + max |y|) counts as diverged: GD on a convex readout that far from the
    targets does not come back within the few steps the simulator runs."""
    return 1e3 * (1.0 + float(np.max(np.abs(np.asarray(y)))))


def simulate(sim: NFDSimulator, X, y, lr: float, key, X_test=None, taus=(), check_mem: bool = True,
             divergence_bound: float | None = None) -> NFDResult:
    """Run the simulator on training inputs X (P, d) with targets y (P,), base rate η = ``lr``, for
    ``sim.steps`` GD steps (passes 0 … steps). ``X_test`` (Q', d): spectator inputs. ``taus``: layer-times
    in (0, 1) at which Φ and K^h are also recorded (rounded to layers ℓ = round(τ L) ≥ 1, deduplicated).
    A pass with a non-finite value or |f − y| > ``divergence_bound`` (default
    :func:`default_divergence_bound`) stops the run; the passes before it are kept.

    >>> import jax, jax.numpy as jnp
    >>> from mflab.theory.nfd import NFDSimulator, simulate
    >>> sim = NFDSimulator.create(depth=4, steps=2, particles=4096)
    >>> X = jnp.eye(3, 8) * jnp.sqrt(8.0); y = jnp.array([1.0, -1.0, 0.5])
    >>> r = simulate(sim, X, y, lr=0.5, key=jax.random.key(0))
    >>> r.f.shape, r.stop_reason
    ((3, 3), 'completed')
    """
    dt = jnp.dtype(sim.dtype)
    X = jnp.asarray(X, dt)
    y = jnp.asarray(y, dt).reshape(-1)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ConfigError("X", f"must be a (P, d) array of inputs, got shape {tuple(X.shape)}", "pass P >= 1 rows")
    if y.shape[0] != X.shape[0]:
        raise ConfigError("y", f"has {y.shape[0]} targets for {X.shape[0]} inputs", "one target per input row")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError("lr", f"must be a finite number > 0, got {lr!r}", "e.g. lr = 0.5")
    P = X.shape[0]
    if X_test is not None:
        y = jnp.concatenate([y, jnp.zeros(jnp.shape(X_test)[0], dt)])  # spectators: no error signal
        X_test = jnp.asarray(X_test, dt)
        if X_test.ndim != 2 or X_test.shape[1] != X.shape[1]:
            raise ConfigError("X_test", f"must be (Q, {X.shape[1]}), got shape {tuple(X_test.shape)}",
                              "test inputs have the training inputs' dimension")
    for name, v in (("X", X), ("y", y), ("X_test", X_test)):
        if v is not None and not bool(jnp.all(jnp.isfinite(v))):
            raise ConfigError(name, "contains NaN or inf", f"pass finite {name}")
    if X_test is not None:
        X = jnp.concatenate([X, X_test])
    layers = []
    for tau in taus:
        if not 0 < float(tau) < 1:
            raise ConfigError("taus", f"layer-times must lie in (0, 1), got {tau!r}", "e.g. taus = [0.25, 0.5]")
        layers.append(max(1, int(round(float(tau) * sim.depth))))
    layers = tuple(sorted(set(lv for lv in layers if lv < sim.depth)))
    if check_mem:
        check_memory(sim, X.shape[0])
    bound = default_divergence_bound(y) if divergence_bound is None else float(divergence_bound)
    recs, good, code = _simulate_jit(sim, X, y, P, jnp.asarray(lr, dt), key, layers, jnp.asarray(bound, dt))
    good = np.asarray(good)
    done = int(good.sum()) if good.all() else int(np.argmin(good))
    reason = STOP_REASONS[int(np.max(np.asarray(code)))] if done < sim.steps + 1 else "completed"
    out = {}
    for k in ("f", "Phi", "Kh", "G0"):
        v = np.array(recs[k], dtype=np.float64)
        v[done:] = np.nan
        out[k] = v
    neg = np.asarray(recs["neg"])[:max(done, 1)]
    return NFDResult(out["f"], out["Phi"], out["Kh"], out["G0"], layers, done, reason, float(np.min(neg)))
