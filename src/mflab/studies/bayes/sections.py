"""Configuration sections shared by experiments, and the builders that turn them into objects."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ...conventions import TEMPERATURE_CONVENTIONS, get_parametrization
from ...dynamics.network_posterior import SAMPLERS, Preconditioner
from ...dynamics.sgld import NOISE_MODES
from ...dynamics.schedules import SCHEDULES
from ...errors import ConfigError, suggest
from ...networks.activations import get_activation
from ...networks.two_layer import TwoLayer
from ...tasks.registry import build_task, check_task_name
from ...framework.config import bounded, config_section, require

TASKS = ("parity", "single-index", "multi-index")  # the registered tasks these studies run


@dataclass
class TaskConfig:
    """``name``: parity | single-index | multi-index. ``n_train`` is a grid axis (nested subsets
    of one training set per replica)."""

    name: str = "parity"
    d: int = 35
    k: int = 4
    degree: int = 4  # Hermite degree p (single-index) ...
    degrees: Optional[list[int]] = None  # ... or one degree per direction (multi-index)
    normalized: bool = False  # Hermite links: He_p (False, as in the study) or h_p = He_p/√p! (unit variance)
    support: Optional[list[int]] = None
    n_train: list[int] | int = bounded(default_factory=lambda: [2000], ge=1, fix="sample sizes are positive")
    n_test: int = bounded(10_000, ge=1, fix="e.g. n_test = 10000")
    label_noise: float = bounded(0.0, ge=0, fix="0 for clean labels")

    def validate(self):
        check_task_name(self.name, TASKS)
        self.build()  # checks d, k, support, degree

    def build(self):
        """The task of the section, from the task registry (mflab.tasks.registry)."""
        with config_section("task"):
            return build_task(self.name, TASKS, "name", d=self.d, k=self.k, degree=self.degree,
                              degrees=self.degrees, support=self.support, normalized=self.normalized)


@dataclass
class NetworkConfig:
    """Two-layer network f = N^{-γ} Σ a_i φ(w_i·x + b_i) + c; see mflab.conventions. ``bias``: hidden biases
    b_i ~ N(0, σ_b²); ``output_bias``: c ~ N(0, σ_c²)."""

    width: int = 512
    activation: str = "relu"
    parametrization: str = "ntk"
    gamma: Optional[float] = None  # overrides the table's γ
    sigma_a: float = 1.0
    sigma_w: float = 1.0
    sigma_b: float = 1.0
    bias: bool = False
    sigma_c: float = 1.0
    output_bias: bool = False

    def validate(self):
        get_activation(self.activation)
        get_parametrization(self.parametrization)
        build_network(self)


def check_representable(task_cfg: TaskConfig, net_cfg: NetworkConfig):
    """Refuse a task the network cannot overlap at all (:func:`mflab.tasks.representability.check_representable`:
    odd parity on bias-free ReLU/GELU/SiLU, even parity or He₂ on erf, degree > 2 on a quadratic, ...)."""
    from ...tasks.representability import check_representable as check

    check(task_cfg.build(), net_cfg.activation, net_cfg.bias, "task")


def build_network(cfg: NetworkConfig) -> TwoLayer:
    with config_section("network"):
        return TwoLayer.create(cfg.width, cfg.activation, cfg.parametrization, cfg.gamma, cfg.sigma_a, cfg.sigma_w,
                               cfg.sigma_b, cfg.bias, cfg.sigma_c, cfg.output_bias)


METRICS = ("train_mse", "test_mse", "overlap")  # logged by every posterior study (design.make_observe)
SIGNED_METRICS = ("train_error01",)  # and where labels are ±1 (parity): the 0-1 training error of sign(f)


def task_metrics(task_cfg: TaskConfig) -> tuple:
    """The logged metrics a stopping rule may use on this task."""
    return METRICS + (SIGNED_METRICS if getattr(task_cfg.build(), "signed_labels", False) else ())


@dataclass
class StopRule:
    """Stop a chain ``extra_steps`` after the first log at which its ``metric`` ≤ ``below``; where
    n_train ≤ ``small_n_train`` or κ ≥ ``large_kappa``, the rule watches ``fallback_metric`` ≤
    ``fallback_below`` instead (None: no fallback). The defaults are the published parity rule (paper B
    §1.4, read from the authors' scripts): test MSE < 0.03, or train 0-1 error ≤ 0.01 when P ≤ 550 or
    κ ≥ 0.02, then 10⁵ more steps. The rule is checked at every log (``sgld.log_every``), inside the
    compiled loop, so its resolution is one logging block whatever the chunking."""

    metric: str = "test_mse"
    below: float = 0.03
    fallback_metric: Optional[str] = "train_error01"
    fallback_below: float = 0.01
    small_n_train: int = 550
    large_kappa: float = 0.02
    extra_steps: int = bounded(100_000, ge=0, fix="e.g. extra_steps = 100000")

    def check(self, task_cfg: TaskConfig, log_every: int):
        """Refuse a metric the task does not log and an ``extra_steps`` off the logging grid."""
        known = task_metrics(task_cfg)
        for name, m in (("sgld.stop.metric", self.metric), ("sgld.stop.fallback_metric", self.fallback_metric)):
            if m is not None and m not in known:
                why = (f"'{m}' needs ±1 labels, which task '{task_cfg.name}' does not have" if m in SIGNED_METRICS
                       else f"unknown metric '{m}'")
                raise ConfigError(name, why, f"use one of {', '.join(known)}"
                                  + (" (the authors' rule for continuous labels watches train_mse)" if m in SIGNED_METRICS else ""))
        require(self.extra_steps % log_every == 0, "sgld.stop.extra_steps",
                f"{self.extra_steps} is not a multiple of sgld.log_every = {log_every}",
                f"use extra_steps = {max(0, round(self.extra_steps / log_every)) * log_every}")

    def uses_fallback(self, n_train: int, kappa: float) -> bool:
        return self.fallback_metric is not None and (n_train <= self.small_n_train or kappa >= self.large_kappa)


@dataclass
class PreconditionerConfig:
    """A constant inverse mass per parameter group, multiplying the parametrization's learning-rate
    multipliers: ``first_layer`` on W (and b), ``readout`` on a (and c). The posterior does not depend on it
    (:class:`mflab.dynamics.Preconditioner`); it sets how fast each group moves and the step's
    discretisation bias. 1 and 1: the plain sampler. docs/samplers.md has the measured choice."""

    first_layer: float = bounded(1.0, gt=0, le=1e6, fix="e.g. first_layer = 4.0 (1 is the plain sampler)")
    readout: float = bounded(1.0, gt=0, le=1e6, fix="e.g. readout = 1.0 (1 is the plain sampler)")

    def value(self) -> Preconditioner:
        return Preconditioner(float(self.first_layer), float(self.readout))


SAMPLES = ("average", "final")  # the posterior sample of a chain: its logs after burn-in, or its final weights


@dataclass
class SGLDConfig:
    """The network's posterior sampler. ``sampler = "sgld"``: θ ← θ − η[(T/σ²)θ + ∇L] + √(2Tη)ξ;
    ``"kinetic"``: BAOAB kinetic Langevin with the same η (step h = √(2η)) and ``friction`` γ (None:
    critical damping of the slowest prior mode), same stationary law. T from ``kappa`` by
    ``temperature_convention`` (T = 2κ² for "kappa"). ``kappa`` is a grid axis."""

    kappa: list[float] | float = bounded(default_factory=lambda: [5e-3], ge=0, fix="use kappa >= 0 (0 is noiseless GD)")
    temperature_convention: str = "kappa"
    lr: float = bounded(1e-3, gt=0, fix="e.g. lr = 1e-3")
    lr_final: Optional[float] = bounded(None, gt=0, fix="e.g. lr_final = 5e-4")
    schedule: str = "constant"
    decay_steps: Optional[int] = None
    power: float = 2.0
    steps: int = bounded(10_000, ge=1, le=2**31 - 1, fix="from 1 to 2³¹ − 1 (step counters are 32-bit), e.g. 10000")
    log_every: int = bounded(500, ge=1, fix="e.g. log_every = 500")
    chunk_steps: int = bounded(10_000, ge=1, fix="e.g. chunk_steps = 10000")
    batch_size: Optional[int] = bounded(None, ge=1, fix="omit it for full batch")  # None: full batch
    replicas: int = bounded(1, ge=1, fix="e.g. replicas = 3")  # independent (dataset, init) chains per grid point
    noise: str = "independent"
    sampler: str = "sgld"  # "sgld" (overdamped) or "kinetic" (BAOAB, mflab.dynamics.kinetic_langevin): same posterior
    friction: Optional[float] = bounded(None, gt=0, fix="omit it for critical damping of the slowest prior mode")
    # constant per-group inverse mass M⁻¹ (both samplers; the posterior does not depend on it)
    preconditioner: PreconditionerConfig = field(default_factory=PreconditionerConfig)
    # every this many steps, draw the readout (a, c) exactly from its Gaussian conditional given the first layer
    # (both samplers, mflab.dynamics.readout_gibbs; the posterior does not change). None: never
    readout_gibbs_every: Optional[int] = bounded(None, ge=1, fix="e.g. readout_gibbs_every = 10, or omit it")
    chain_batch: int = bounded(0, ge=0, fix="0 chooses automatically")  # 0: automatic (1 on CPU, all on accelerators)
    # true: the chains of each training-set size run apart on their own P points (no padding: a P = 25 chain costs
    # a P = 25 step); false: one batch padded to the largest P (fewer, larger calls, for accelerators)
    group_by_n_train: bool = True
    burn_in_fraction: float = bounded(0.5, ge=0, lt=1, fix="e.g. 0.5")  # posterior averages: logged points after it
    sample: str = "average"  # "average": the logs after burn-in; "final": each chain's final weights (published)
    stop: Optional[StopRule] = None  # per-chain stopping rule (None: every chain runs all steps)
    # a finished sgld-parity run directory: every chain starts from the final weights of that run's chain with its
    # replica (and κ, where present) at that run's largest P: a learned start, for metastability checks
    init_from: Optional[str] = None

    def validate(self):
        if self.temperature_convention not in TEMPERATURE_CONVENTIONS:
            raise ConfigError("sgld.temperature_convention", f"unknown convention '{self.temperature_convention}'",
                              suggest(self.temperature_convention, TEMPERATURE_CONVENTIONS))
        if self.schedule not in SCHEDULES:
            raise ConfigError("sgld.schedule", f"unknown schedule '{self.schedule}'", suggest(self.schedule, SCHEDULES))
        if self.schedule != "constant":
            require(self.decay_steps is not None and self.decay_steps >= 1, "sgld.decay_steps",
                    f"a '{self.schedule}' schedule needs decay_steps >= 1", "e.g. decay_steps = 20000")
        require(self.steps % self.log_every == 0, "sgld.steps",
                f"{self.steps} is not a multiple of log_every = {self.log_every}",
                f"use steps = {max(1, round(self.steps / self.log_every)) * self.log_every}")
        if self.noise not in NOISE_MODES:
            raise ConfigError("sgld.noise", f"unknown noise mode '{self.noise}'", suggest(self.noise, NOISE_MODES))
        if self.sample not in SAMPLES:
            raise ConfigError("sgld.sample", f"unknown sample '{self.sample}'", suggest(self.sample, SAMPLES))
        if self.sampler not in SAMPLERS:
            raise ConfigError("sgld.sampler", f"unknown sampler '{self.sampler}'", suggest(self.sampler, SAMPLERS))
        kappas = self.kappa if isinstance(self.kappa, list) else [self.kappa]
        if self.sampler == "sgld":
            require(self.friction is None, "sgld.friction", "friction is a parameter of the kinetic sampler",
                    "set sgld.sampler = 'kinetic', or remove sgld.friction")
        else:
            require(self.noise == "independent", "sgld.noise", f"noise = '{self.noise}' is an SGLD option",
                    "use noise = 'independent' with sampler = 'kinetic'")
            require(self.friction is not None or min(kappas) > 0, "sgld.friction",
                    "the default (critical) friction is 0 at kappa = 0, where nothing damps the kinetic chain",
                    "set sgld.friction > 0, or use kappa > 0")
        if self.readout_gibbs_every is not None:
            require(min(kappas) > 0, "sgld.readout_gibbs_every", "the readout's conditional law needs a temperature "
                    "T > 0, and kappa = 0 is noiseless", "use kappa > 0, or omit sgld.readout_gibbs_every")
            require(self.noise != "coupled", "sgld.readout_gibbs_every", "an exact readout draw breaks the coupled "
                    "noise shared across widths", "use noise = 'independent', or omit sgld.readout_gibbs_every")


def check_sampler_fits_task(task_cfg: TaskConfig, sg: SGLDConfig):
    """Cross-section checks of the sampler: a stopping rule must watch metrics the task logs."""
    if sg.stop is not None:
        require(sg.sample == "final", "sgld.stop", "a stopping rule ends chains at different steps, so they share no "
                "window to average over", "set sgld.sample = 'final' (each chain's final weights are its sample)")
        sg.stop.check(task_cfg, sg.log_every)


def posterior_memory_bytes(task: TaskConfig, net: NetworkConfig, sg: SGLDConfig, krr: bool,
                           mf_particles: int = 0, precision: str = "float32", krr_max_n_train: int | None = None) -> float:
    """Bytes a (P, κ, replica) posterior study keeps alive at once (:mod:`mflab.resources`):

    - data, one copy per chain C = |n_train|·|κ|·replicas: C·P_max·(d + 2), and the test set n_test·d;
    - chain states, gradients, noise and the summed posterior mean of f: C·(4·N·(d + 2) + n_test);
    - the activations of the chains in flight (``sgld.chain_batch``; 0: one on a CPU, all C on an
      accelerator, :func:`mflab.dynamics.runner.default_chain_batch`): in_flight·N·(P_max + n_test);
    - NNGP-KRR: its Gram matrix and eigenvectors, 3·P_K² (+ P_K·n_test cross kernel), P_K the largest P it
      runs at (``krr_max_n_train``);
    - MF, per (κ, replica) lane: the particles' features on the training inputs of the lanes in flight,
      2·B·P_max, and on the test inputs of every lane at once (the predictions are vmapped), B·n_test.
    """
    from ...dynamics.runner import default_chain_batch

    word = 8 if precision == "float64" else 4
    P, d, N, n_test = max(task.n_train), task.d, net.width, task.n_test
    C = len(task.n_train) * len(sg.kappa) * sg.replicas
    lanes = len(sg.kappa) * sg.replicas
    in_flight = min(C, sg.chain_batch or default_chain_batch(C))
    words = C * P * (d + 2) + n_test * d + C * (4 * N * (d + 2) + n_test) + in_flight * N * (P + n_test)
    if krr:
        PK = max([p for p in task.n_train if krr_max_n_train is None or p <= krr_max_n_train], default=0)
        words += 3 * PK * PK + PK * n_test
    if mf_particles:
        words += 2 * mf_particles * P * default_chain_batch(lanes) + lanes * mf_particles * n_test
    return float(words * word)


def check_posterior_memory(task: TaskConfig, net: NetworkConfig, sg: SGLDConfig, krr: bool, mf_particles: int = 0,
                           precision: str = "float32", krr_max_n_train: int | None = None):
    """Refuse, before anything is allocated, a posterior study that does not fit this machine; the error
    names the field whose halving saves the most memory."""
    import dataclasses

    from ...resources import check_memory

    need = posterior_memory_bytes(task, net, sg, krr, mf_particles, precision, krr_max_n_train)
    halved = {"network.width": (task, dataclasses.replace(net, width=max(1, net.width // 2))),
              "task.n_train": (dataclasses.replace(task, n_train=[max(1, p // 2) for p in task.n_train]), net),
              "task.d": (dataclasses.replace(task, d=max(1, task.d // 2)), net),
              "task.n_test": (dataclasses.replace(task, n_test=max(1, task.n_test // 2)), net)}
    field = min(halved, key=lambda f: posterior_memory_bytes(*halved[f], sg, krr, mf_particles, precision, krr_max_n_train))
    C = len(task.n_train) * len(sg.kappa) * sg.replicas
    check_memory(need, field, f"width N = {net.width}, d = {task.d}, P up to {max(task.n_train)}, {C} chains, "
                 f"n_test = {task.n_test}", f"lower {field} (the largest share), or use fewer κ values or replicas")
