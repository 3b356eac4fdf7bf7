r"""Every scaling convention in mflab, in one place.

Two-layer network (all of mflab's two-layer code uses this form)
------------------------------------------------------------------
    f(x) = N^{-γ} Σ_{i=1}^{N} a_i φ(w_i·x + b_i)

with prior / initialisation

    a_i ~ N(0, σ_a² N^{-α}),   w_i ~ N(0, (σ_w²/d) I_d),   b_i ~ N(0, σ_b²)   (biases optional)

and per-layer learning rates η_a = η N^{c_a}, η_w = η_b = η N^{c_w}.

The parametrization tables (Yang & Hu 2021, "Tensor Programs IV", restricted to two layers):

==============  =====  =====  =====  =====  ==========================================
name            γ      α      c_w    c_a    meaning
==============  =====  =====  =====  =====  ==========================================
``standard``    0      1      0      0      PyTorch-style fan-in init of the readout
``ntk``         1/2    0      0      0      NTK / lazy limit; the Bayesian study's choice
``mup``         1      0      1      1      μP = mean-field: Θ(1) per-neuron movement
==============  =====  =====  =====  =====  ==========================================

``standard`` and ``ntk`` define the same function distribution at initialisation but different
gradient dynamics. Under ``mup`` each neuron's gradient is O(1/N); the N^1 learning-rate factor
makes the particle flow dθ_i/dt = -∇_θ δR/δμ(θ_i) of the mean-field limit.

Langevin dynamics and temperature
---------------------------------
All samplers use, for every parameter group θ with prior variance σ_θ² and learning rate η_θ,

    θ ← θ − η_θ [ (T/σ_θ²) θ + ∇_θ L(θ) ] + √(2 T η_θ) ξ,     ξ ~ N(0, I),

whose stationary density is  p(θ) ∝ exp(−L(θ)/T − Σ_θ |θ|²/(2σ_θ²))  for any per-group
η_θ (a constant diagonal preconditioner does not change it). The loss is the per-sample mean
squared error *without* a ½:  L = (1/P) Σ_μ (f(x_μ) − y_μ)².

Temperature conventions (``temperature(noise, convention)``):

* ``"kappa"`` (the Bayesian parity study, Göring et al. 2025):  T = 2κ².
  The posterior is then exp(−Σ_μ (f − y)²/(2κ²P) − prior), a Gaussian likelihood with
  noise variance κ²P; the matching kernel-ridge ridge on the Gram matrix is κ²P.
* ``"direct"``: the number given *is* T.

Gaussian-likelihood equivalence (used by kernel ridge regression):
noise variance σ_ε² = T·P/2 on the Gram matrix, i.e. ridge κ²P under ``"kappa"``.

The posterior's noise is passed as one typed value, :class:`PosteriorNoise` (``posterior_noise``):
both its names, κ and T = 2κ² (κ = √(T/2) under ``"direct"``), and the ridge T P/2 = κ² P.
SGLD reads its ``temperature``, kernel ridge regression its ``ridge(P)``, the mean-field theory its
``kappa`` and ``temperature``; nothing else converts.

Mean-field Langevin dynamics of a μP two-layer network (``shared/papers/A_…``, §1.2–1.3)
-------------------------------------------------------------------------------------------
Particles θ_i = (a_i, w_i), f = (1/N) Σ_i a_i σ(w_i·x) (the ``mup`` row above), objective

    F_τ(μ) = R(μ) + (λ/2) ∫|θ|² dμ + τ ∫ μ log μ,      R(μ) = ½ E(f_μ(x) − y)²   (with the ½),

and its particle discretisation (Euler–Maruyama, time t = kη, first variation V_μ = δR/δμ):

    θ_i ← θ_i − η [∇V_{μ̂}(θ_i) + λ θ_i] + √(2ητ) ξ_i,      ξ_i ~ N(0, I_{1+d}).

mflab runs it on the Langevin kernel above with ``mfld_langevin_settings``: the loss is the kernel's
MSE without ½ plus the weight decay, L_N = E(f − y)² + (λ/N) Σ_i |θ_i|² = 2 F_N without entropy, at
temperature T = 2τ/N, base rate η/2 and multipliers N on a and w. Then η_θ ∇L_N = η(∇V + λθ) and
√(2Tη_θ) = √(2ητ): the update above exactly, and the stationary law exp(−N F/τ) of the N-particle
system. The noise variance 2ητ does not depend on N.

Residual networks (width n, depth L; multiplier form, every trainable entry N(0, 1))
------------------------------------------------------------------------------------
Pre-activation MLP-ResNet (Yao, Wu & Gao 2025, "Neural Feature Dynamics"; §1.2 Form A of
``shared/papers/C_infinite_depth_neural_feature_dynamics.md``; the exact constants are a
reconstruction consistent with Tensor Programs VI):

    h_0 = U x / √d
    one-layer block:  h_ℓ = h_{ℓ−1} + (a / L^β) (1/√n) W_ℓ φ(h_{ℓ−1})
    two-layer block:  h_ℓ = h_{ℓ−1} + (a / L^β) (1/√n) W⁽²⁾_ℓ φ(z_ℓ),  z_ℓ = (1/√n) W⁽¹⁾_ℓ φ(h_{ℓ−1})
    f(x) = n^{-ρ} vᵀ φ(h_L)

Learning rates, per parameter group (U input, W⁽ᵐ⁾ hidden, v readout), base rate η:

* SGD: every group η n^c.
* Adam: U and v get η, every hidden matrix η n^{c_W} L^{ζ_W} (the Adam columns below).
  Derivation (Form A, all entries O(1)): an Adam step moves every entry by ≈ η_θ with a
  rank-one-aligned sign pattern, so a hidden block moves h by (a/L^β)(1/√n)·n·η_W; requiring the
  O(1/L) per-block change of depth-μP gives η_W = η/√(nL). U (fan-in d, fixed) and v (1/n
  readout, n aligned terms) need η. This equals the reconstructed Form-B Adam column of the notes
  (§1.2: hidden η/(n√L) on N(0, 1/n) entries); the paper's own Adam rules were not recovered.

The first internal layer of a two-layer block gets an extra L^ζ under either optimizer (the
depth-aware correction, ζ = ``first_layer_lr_exponent``, default 0; ζ = ½ is the √L boost
guessed in the notes, §3.2, whose stability the notes question).

==============  =====  =====  =====  =====  =====  ==============================================
name            β      ρ      c      c_W    ζ_W    meaning
==============  =====  =====  =====  =====  =====  ==============================================
``sp``          0      1/2    0      0      0      standard parametrization, no depth scaling
``mup``         0      1      1      −1/2   0      μP in width, no depth scaling ("μP ResNet")
``depth-mup``   1/2    1      1      −1/2   −1/2   μP + depth-μP: the 1/√L branch (the NFD setting)
==============  =====  =====  =====  =====  =====  ==============================================

(β, ρ, c: branch, readout and SGD-rate exponents; c_W, ζ_W: the Adam rate exponents of the hidden
matrices.) Under ``depth-mup`` each block moves O(1/L) per step and the stream O(1) in total; no L
factor is needed in the SGD rate because the branch multiplier puts L^{-1/2} into the gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .errors import ConfigError, suggest


@dataclass(frozen=True)
class Parametrization:
    """Width exponents of a two-layer network: output multiplier N^{-γ}, readout prior variance
    σ_a² N^{-α}, learning-rate multipliers N^{c_w} (first layer and bias) and N^{c_a} (readout)."""

    name: str
    gamma: float
    alpha: float
    c_w: float
    c_a: float

    def replace_gamma(self, gamma: float) -> "Parametrization":
        return Parametrization(f"{self.name}(gamma={gamma:g})", float(gamma), self.alpha, self.c_w, self.c_a)


PARAMETRIZATIONS: dict[str, Parametrization] = {
    "standard": Parametrization("standard", gamma=0.0, alpha=1.0, c_w=0.0, c_a=0.0),
    "ntk": Parametrization("ntk", gamma=0.5, alpha=0.0, c_w=0.0, c_a=0.0),
    "mup": Parametrization("mup", gamma=1.0, alpha=0.0, c_w=1.0, c_a=1.0),
}


def get_parametrization(name: str) -> Parametrization:
    if name not in PARAMETRIZATIONS:
        raise ConfigError("parametrization", f"unknown parametrization '{name}'",
                          suggest(name, PARAMETRIZATIONS))
    return PARAMETRIZATIONS[name]


@dataclass(frozen=True)
class DepthParametrization:
    """Residual-network exponents: branch multiplier a/L^β, readout n^{-ρ}, SGD rates η n^c,
    Adam rates η (U, v) and η n^{c_W} L^{ζ_W} (hidden matrices)."""

    name: str
    branch_exponent: float  # β
    readout_exponent: float  # ρ
    lr_width_exponent: float  # c
    adam_hidden_width_exponent: float  # c_W
    adam_hidden_depth_exponent: float  # ζ_W


DEPTH_PARAMETRIZATIONS: dict[str, DepthParametrization] = {
    "sp": DepthParametrization("sp", 0.0, 0.5, 0.0, 0.0, 0.0),
    "mup": DepthParametrization("mup", 0.0, 1.0, 1.0, -0.5, 0.0),
    "depth-mup": DepthParametrization("depth-mup", 0.5, 1.0, 1.0, -0.5, -0.5),
}


def get_depth_parametrization(name: str) -> DepthParametrization:
    if name not in DEPTH_PARAMETRIZATIONS:
        raise ConfigError("parametrization", f"unknown parametrization '{name}'",
                          suggest(name, DEPTH_PARAMETRIZATIONS))
    return DEPTH_PARAMETRIZATIONS[name]


def nfd_branch_scale(branch_multiplier: float, depth: int) -> float:
    """s = a / L^β of ``depth-mup`` (β = ½): the branch scale of the NFD limit, the same number as
    :attr:`mflab.networks.resnet.ResNet.branch_scale` of a depth-μP ResNet."""
    return float(branch_multiplier) / float(depth) ** DEPTH_PARAMETRIZATIONS["depth-mup"].branch_exponent


def mse_error_signal(f, y, n_train: int):
    """e(μ) = −∂/∂f_μ of the loss (1/P) Σ_μ (f_μ − y_μ)² (mflab's MSE, no ½): e = −(2/P)(f − y). Full-batch
    GD at rate η·n moves every parameter group by η n Σ_μ e(μ) ∂f_μ/∂θ (Form A under depth-μP)."""
    return -(2.0 / n_train) * (f - y)


TEMPERATURE_CONVENTIONS = ("kappa", "direct")


def temperature(noise: float, convention: str = "kappa") -> float:
    """Langevin temperature T from the noise parameter: T = 2κ² (``"kappa"``) or T = noise (``"direct"``)."""
    if convention == "kappa":
        return 2.0 * noise**2
    if convention == "direct":
        return noise
    raise ConfigError("temperature_convention", f"unknown convention '{convention}'",
                      suggest(convention, TEMPERATURE_CONVENTIONS))


def likelihood_noise_variance(temp: float, n_train: int) -> float:
    """Gaussian-likelihood noise variance equivalent to MSE(mean) at temperature T: σ_ε² = T P / 2."""
    return 0.5 * temp * n_train


class PosteriorNoise(NamedTuple):
    """The noise of the posterior exp(−L/T − prior) under both names (module docstring). Fields may be
    arrays with a leading chain axis (a pytree: it vmaps and traces)."""

    kappa: float  # κ, with T = 2κ²
    temperature: float  # T

    def ridge(self, n_train: int) -> float:
        """The kernel-ridge ridge on the Gram matrix, σ_ε² = T P/2 = κ² P."""
        return likelihood_noise_variance(self.temperature, n_train)

    def at(self, i: int) -> "PosteriorNoise":
        """Chain ``i`` of a batched value, as Python floats."""
        return PosteriorNoise(float(self.kappa[i]), float(self.temperature[i]))


def check_posterior_noise(noise, where: str) -> PosteriorNoise:
    """``noise`` itself if it is a :class:`PosteriorNoise`; a plain number is refused, because κ and T
    are easily confused (T = 2κ²: passing κ where T is meant is silently wrong by a factor 2κ)."""
    if not isinstance(noise, PosteriorNoise):
        raise TypeError(f"{where} takes the posterior noise as mflab.conventions.posterior_noise(kappa) (or "
                        f"posterior_noise(T, 'direct')), not a plain {type(noise).__name__}: κ and T = 2κ² are "
                        "easily confused")
    return noise


def posterior_noise(noise, convention: str = "kappa") -> PosteriorNoise:
    """The typed noise from the number a config gives: κ (``"kappa"``: T = 2κ²) or T itself (``"direct"``:
    κ = √(T/2)). Works on Python floats and on (traced) arrays alike."""
    T = temperature(noise, convention)
    return PosteriorNoise(noise if convention == "kappa" else (0.5 * T) ** 0.5, T)


class TwoLayerPrior(NamedTuple):
    """The prior of f = N^{-γ} Σ a_i φ(w_i·x + b_i) + c as standard deviations: a ~ N(0, σ_a²),
    w ~ N(0, σ_w²/d I_d), b ~ N(0, σ_b²) (None: no hidden biases), c ~ N(0, σ_c²) (None: no output bias).
    ``ard_beta0`` is the Gamma(α0, β0) rate of MF-ARD's precision hyperprior (None: α0 σ_w²/d, whose mean
    α0/β0 is the prior's own precision d/σ_w²)."""

    sigma_a: float = 1.0
    sigma_w: float = 1.0
    sigma_b: float | None = None
    sigma_c: float | None = None
    ard_beta0: float | None = None


PRIORS = ("shared", "authors")  # one prior for network and theory, or the two priors of the authors' scripts


def authors_single_index_priors(d: int, alpha0: float) -> tuple[TwoLayerPrior, TwoLayerPrior]:
    """(network, mean-field theory) priors of paper B's single-index scripts, which differ (§8 of
    ``shared/papers/B_simple_mean_field_feature_learning.md``):

    - SGLD network: g_w = 0.5 is a *variance*, σ_w = √0.5; the hidden bias sits in w's group, variance
      g_w/d, σ_b = √(0.5/d); an output bias in a's group, σ_c = 1; σ_a = 1 (g_a = 1).
    - MF-ARD: σ_w = 0.5 is a *standard deviation* (variance 0.25/d); b ~ N(0, 1); no output bias;
      β0 = α0/d, so the hyperprior mean of ρ is d while ρ0 = d/σ_w² = 4d.
    """
    return (TwoLayerPrior(1.0, 0.5**0.5, (0.5 / d) ** 0.5, 1.0),
            TwoLayerPrior(1.0, 0.5, 1.0, None, alpha0 / d))


class MFLDScaling(NamedTuple):
    """The Langevin-kernel values of mean-field Langevin noisy GD for N particles (module docstring)."""

    width: int
    temperature: float  # T = 2τ/N
    lr: float  # η/2, the Langevin kernel's base step (Hyper.lr)
    lr_mult: float  # N, on every particle coordinate


def mfld_lr_multiplier(width: int) -> float:
    """The learning-rate multiplier N of every particle coordinate (μP: each gradient is O(1/N))."""
    return float(width)


def mfld_langevin_settings(width: int, eta: float, tau: float) -> MFLDScaling:
    """Langevin-kernel settings of mean-field Langevin noisy GD (module docstring): temperature
    T = 2τ/N, base rate η/2, learning-rate multiplier N on every particle coordinate."""
    if not eta > 0:
        raise ConfigError("eta", f"must be > 0, got {eta!r}", "e.g. eta = 0.1")
    if not tau >= 0:
        raise ConfigError("tau", f"must be >= 0, got {tau!r}", "tau = 0 is noiseless gradient descent")
    return MFLDScaling(int(width), 2.0 * tau / width, eta / 2.0, mfld_lr_multiplier(width))
