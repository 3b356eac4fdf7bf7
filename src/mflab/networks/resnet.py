r"""Pre-activation MLP-ResNets under SP / μP / depth-μP, with a choice of backward pass.

The architecture and the parametrization tables are in :mod:`mflab.conventions` (one place).
The depth loop is a ``lax.scan`` over stacked layer weights, so compile time is flat in L.

Weights are stored as W = W(0) + ΔW: the initial matrices W(0) are frozen leaves (learning-rate
multiplier 0) and the trained increments ΔW start at 0. This is what the training modes need
(Yao, Wu & Gao 2025; §2.2 and §5.4 of ``shared/papers/C_infinite_depth_neural_feature_dynamics.md``):

* ``"backprop"``: the backward pass multiplies by Wᵀ, the matrix the forward pass used.
* ``"decoupled"``: the backward pass multiplies by (W̃(0) + ΔW)ᵀ with W̃(0) an independent copy of
  the initial weights, the increments ΔW shared ("independent backward initialization"). Parameter
  gradients are the usual outer products of forward features and (decoupled) backward signals.

* ``"ablate-coupling"``: backprop with only the reused-weight coupling removed (§5.3 of the notes).
  With A the span of every vector W_ℓ(0) has multiplied in forward passes so far and C that of every
  vector W_ℓ(0)ᵀ has multiplied in backward passes, the backward product splits as
  W(0)ᵀĝ = W(0)ᵀP_C ĝ + P_A W(0)ᵀP_C^⊥ ĝ + P_A^⊥ W(0)ᵀP_C^⊥ ĝ; the middle term (the coupling, the
  conditional mean of W(0)ᵀ given the forward products) is replaced by P_A W̃ᵀ P_C^⊥ ĝ with an
  independent W̃ (stored in ``Wb0``). The spans are training history, so this mode trains through
  :func:`mflab.analysis.reused_weight_coupling.history_train`; a forward or backward pass without
  the history (``swap=None``) is plain backprop. One-layer blocks only.

Every internal matrix multiply goes through :func:`feedback_matmul`, a ``custom_vjp`` whose
backward uses a given feedback matrix; in ``"backprop"`` mode the feedback is W itself and the
gradients equal plain autodiff (tested). :func:`swapped_matmul` is the ablation's backward.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..conventions import DepthParametrization, get_depth_parametrization
from ..resources import check_memory
from ..errors import ConfigError, suggest
from .activations import Activation, get_activation

MODES = ("backprop", "decoupled", "ablate-coupling")


@jax.custom_vjp
def feedback_matmul(x, W, B):
    """x Wᵀ, whose backward pass sends the cotangent through B (not W): dx = g B, dW = gᵀ x, dB = 0."""
    return x @ W.T


def _fm_fwd(x, W, B):
    return x @ W.T, (x, B)


def _fm_bwd(res, g):
    x, B = res
    return g @ B, g.T @ x, jnp.zeros_like(B)


feedback_matmul.defvjp(_fm_fwd, _fm_bwd)


@jax.custom_vjp
def swapped_matmul(x, W, W0, Wt, QA, QC):
    """x Wᵀ whose backward pass swaps the component P_A W0ᵀ P_C^⊥ g of W0ᵀ g for P_A Wtᵀ P_C^⊥ g
    (row convention: g @ W0 is W0ᵀ g). QA (n_in, r), QC (n_out, r') have orthonormal columns (zero
    columns allowed: they project onto nothing)."""
    return x @ W.T


def _sm_fwd(x, W, W0, Wt, QA, QC):
    return x @ W.T, (x, W, W0, Wt, QA, QC)


def _sm_bwd(res, g):
    x, W, W0, Wt, QA, QC = res
    gp = g - (g @ QC) @ QC.T
    swap = ((gp @ (Wt - W0)) @ QA) @ QA.T
    z = jnp.zeros_like
    return g @ W + swap, g.T @ x, z(W0), z(Wt), z(QA), z(QC)


swapped_matmul.defvjp(_sm_fwd, _sm_bwd)


class ResNetParams(NamedTuple):
    """Parameters of a :class:`ResNet`: input layer U, frozen initial matrices W0 and trained increments dW
    per internal layer, the decoupled backward copies Wb0, and the readout v."""

    U: jax.Array  # (n, d) input layer
    W0: tuple  # per internal layer of a block, (L, n, n) initial matrices (frozen)
    dW: tuple  # trained increments ΔW, same shapes, zero at initialisation
    Wb0: tuple  # "decoupled": independent initial copies used by the backward pass; "backprop": ()
    v: jax.Array  # (n,) readout


@dataclass(frozen=True)
class ResNet:
    """Static description; hashable (a jit static argument). Build with :meth:`create`."""

    width: int
    depth: int
    activation: Activation
    parametrization: DepthParametrization
    block_layers: int = 1  # 1: one-layer blocks; 2: two-layer blocks
    branch_multiplier: float = 1.0  # a
    mode: str = "backprop"
    first_layer_lr_exponent: float = 0.0  # ζ: the depth-aware correction η⁽¹⁾ = η n^c L^ζ (two-layer blocks)

    @staticmethod
    def create(width=256, depth=16, activation="tanh", parametrization="depth-mup", block_layers=1,
               branch_multiplier=1.0, mode="backprop", first_layer_lr_exponent=0.0) -> "ResNet":
        """A pre-activation ResNet of width n and depth L (Form A, :mod:`mflab.conventions`).

        >>> import jax
        >>> from mflab.networks.resnet import ResNet
        >>> net = ResNet.create(32, 8, "tanh", "depth-mup")
        >>> params = net.init(jax.random.key(0), 4)
        >>> net.apply(params, jax.random.normal(jax.random.key(1), (2, 4))).shape
        (2,)
        """
        for name, v in (("width", width), ("depth", depth)):
            if int(v) != v or v < 1:
                raise ConfigError(f"{name}", f"must be a positive integer, got {v!r}", f"e.g. {name} = 16")
        if block_layers not in (1, 2):
            raise ConfigError("block_layers", f"must be 1 or 2, got {block_layers!r}",
                              "1 (one-layer blocks) or 2 (two-layer blocks)")
        if mode not in MODES:
            raise ConfigError("mode", f"unknown training mode '{mode}'", suggest(mode, MODES))
        if not branch_multiplier > 0:
            raise ConfigError("branch_multiplier", f"must be > 0, got {branch_multiplier}", "e.g. 1.0")
        if first_layer_lr_exponent and block_layers != 2:
            raise ConfigError("first_layer_lr_exponent", "the depth-aware correction acts on the first "
                              "internal layer of two-layer blocks", "set block_layers = 2, or leave the exponent 0")
        return ResNet(int(width), int(depth), get_activation(activation), get_depth_parametrization(parametrization),
                      int(block_layers), float(branch_multiplier), mode, float(first_layer_lr_exponent))

    # --- scalings -----------------------------------------------------------------------------
    @property
    def branch_scale(self) -> float:
        """a / L^β."""
        return self.branch_multiplier / self.depth ** self.parametrization.branch_exponent

    @property
    def readout_scale(self) -> float:
        return self.width ** -self.parametrization.readout_exponent

    def lr_multipliers(self, params: ResNetParams, optimizer: str = "sgd") -> ResNetParams:
        """Per-leaf rate multipliers η_θ/η from the conventions table (SGD: n^c everywhere; Adam: 1 on U
        and v, n^{c_W} L^{ζ_W} on hidden matrices), times L^ζ on ΔW⁽¹⁾ of two-layer blocks; frozen
        leaves 0."""
        pz, n, L = self.parametrization, self.width, self.depth
        if optimizer == "adam":
            outer, hidden = 1.0, float(n ** pz.adam_hidden_width_exponent * L ** pz.adam_hidden_depth_exponent)
        else:
            outer = hidden = float(n ** pz.lr_width_exponent)
        dW = tuple(hidden * (L ** self.first_layer_lr_exponent if i == 0 and self.block_layers == 2 else 1.0)
                   for i in range(self.block_layers))
        return ResNetParams(outer, tuple(0.0 for _ in params.W0), dW, tuple(0.0 for _ in params.Wb0), outer)

    # --- parameters ---------------------------------------------------------------------------
    def init(self, key, d: int, dtype=jnp.float32, n_out: int | None = None) -> ResNetParams:
        """Draw all entries N(0, 1). ``n_out=None``: scalar output, v of shape (n,); an integer: vector
        output f ∈ R^{n_out}, v of shape (n, n_out)."""
        n, L = self.width, self.depth
        ku, kv, kw, kb = jax.random.split(key, 4)
        W0 = tuple(jax.random.normal(jax.random.fold_in(kw, i), (L, n, n), dtype) for i in range(self.block_layers))
        Wb0 = () if self.mode == "backprop" else tuple(
            jax.random.normal(jax.random.fold_in(kb, i), (L, n, n), dtype) for i in range(self.block_layers))
        return ResNetParams(jax.random.normal(ku, (n, d), dtype), W0, tuple(jnp.zeros_like(w) for w in W0), Wb0,
                            jax.random.normal(kv, (n,) if n_out is None else (n, int(n_out)), dtype))

    # --- forward ------------------------------------------------------------------------------
    def features(self, params: ResNetParams, X, return_all: bool = False, swap=None, probes=None):
        """h_L (P, n) for inputs X (P, d); with ``return_all`` also the stack (L+1, P, n) of h_ℓ
        and, for two-layer blocks, the first internal pre-activations z_ℓ (L, P, n).

        ``swap = (QA, QC)``, stacks (L, n, r) and (L, n, r'): the backward pass of mode
        ``"ablate-coupling"`` (:func:`swapped_matmul`, W̃ = ``Wb0``). ``probes`` (L, P, n) are added
        to h_1 … h_L; their gradient reads off the backward vectors ∂/∂h_ℓ."""
        phi, n, s = self.activation.fn, self.width, self.branch_scale
        h0 = X @ params.U.T / jnp.sqrt(X.shape[1])
        W = tuple(w0 + dw for w0, dw in zip(params.W0, params.dW))
        if self.mode == "decoupled":
            back = tuple(b0 + dw for b0, dw in zip(params.Wb0, params.dW))
        else:
            back = W
        back = tuple(jax.lax.stop_gradient(b) for b in back)
        if swap is not None:
            if self.mode != "ablate-coupling" or self.block_layers != 1:
                raise ConfigError("mode", "the coupling swap needs mode 'ablate-coupling' and one-layer blocks",
                                  "create the ResNet with mode='ablate-coupling', block_layers=1")
            swap = (params.W0[0], params.Wb0[0]) + tuple(swap)
        if probes is None:
            probes = jnp.zeros((self.depth, 0))

        def block(h, layer):
            Ws, Bs, sw, pr = layer
            x = phi(h)
            z = None
            if self.block_layers == 2:
                z = feedback_matmul(x, Ws[0], Bs[0]) / jnp.sqrt(n)
                x = phi(z)
            out = feedback_matmul(x, Ws[-1], Bs[-1]) if sw is None else swapped_matmul(x, Ws[-1], *sw)
            h = h + s * out / jnp.sqrt(n)
            h = h + pr if pr.size else h
            return h, (h, z) if return_all else None

        hL, hist = jax.lax.scan(block, h0, (W, back, swap, probes))
        if not return_all:
            return hL
        hs, zs = hist
        return hL, jnp.concatenate([h0[None], hs]), zs

    def apply(self, params: ResNetParams, X):
        """f(X) = n^{-ρ} φ(h_L) v: shape (P,), or (P, n_out) for a vector readout."""
        return self.readout_scale * self.activation.fn(self.features(params, X)) @ params.v


def training_memory_bytes(width: int, depth: int, d: int, n_inputs: int, block_layers: int = 1,
                          word: int = 4) -> float:
    """Bytes one ResNet keeps alive while it trains full-batch (the estimate :mod:`mflab.resources`
    checks): four copies of the L·k·n² internal weights (+ n·d + n), for W0, ΔW, the gradient and the
    update, and the activations the backward pass keeps, about eight n×P arrays per layer,
    8·(L·k + 1)·n·P (k = ``block_layers``). Calibrated by peak RSS on CPU (jax 0.10.2): depth-limit
    (32 networks, n = 256, 32 layers, P = 4) 1.3 GB against 1.0 GB estimated; depth-transfer
    (38 networks, n = 128, 64 layers, P = 512) 5.9 GB against 5.8 GB (runtime's 0.5 GB subtracted)."""
    internal = depth * block_layers * width * width
    return float(word * (4 * (internal + width * d + width) + 8 * (depth * block_layers + 1) * width * n_inputs))


def check_resnet_memory(networks: int, width: int, depth: int, d: int, n_inputs: int, block_layers: int = 1,
                        field: str = "width", fix: str = "lower width (memory grows as width²), or the largest depth"):
    """Refuse a depth study whose ``networks`` ResNets trained at once (vmapped) do not fit this machine
    (:func:`training_memory_bytes` each)."""
    need = networks * training_memory_bytes(width, depth, d, n_inputs, block_layers)
    check_memory(need, field, f"{networks} ResNet(s) of width {width} and depth {depth} trained at once on "
                 f"{n_inputs} inputs", fix)


def coarsen(net: ResNet, params: ResNetParams) -> tuple[ResNet, ResNetParams]:
    r"""The multilevel coarse partner of a depth-2m network: m blocks with
    W_j^coarse = (W_{2j−1} + W_{2j}) / √2 (also for ΔW and the feedback copies), U and v shared.

    With branch scale a/√L this is the Euler–Maruyama coarse/fine coupling of the layer-time SDE:
    the two fine Brownian increments (a/√(2m)) W_{2j−1}, (a/√(2m)) W_{2j} sum to the coarse one
    (a/√m) W_j^coarse, which has the same law as a fresh depth-m draw. So O(fine) − O(coarse)
    estimates the depth error increment with far less variance than independent networks
    (§5.2 of the ResNet notes; measured in ``mflab run depth-limit``). One-layer blocks only.
    """
    if net.block_layers != 1 or net.depth % 2:
        raise ConfigError("depth", f"coarsening needs one-layer blocks and an even depth, got "
                          f"{net.block_layers}-layer blocks and L = {net.depth}", "use block_layers = 1, even L")
    pair = lambda w: (w[0::2] + w[1::2]) / jnp.sqrt(2.0)  # noqa: E731
    return dataclasses.replace(net, depth=net.depth // 2), params._replace(W0=tuple(map(pair, params.W0)), dW=tuple(map(pair, params.dW)),
                                   Wb0=tuple(map(pair, params.Wb0)))


def resnet_mse(net: ResNet):
    """grad_fn(params, data, key) -> (L, grads) of L = Σ_μ ω_μ |f(x_μ) − y_μ|² (mflab's MSE, no ½; summed
    over outputs for a vector readout), for :func:`mflab.dynamics.optimizer_kernel`. Frozen leaves'
    gradients are never used, so jit drops them."""

    def loss(params, data):
        r = (net.apply(params, data.X) - data.y).reshape(data.X.shape[0], -1)
        return jnp.sum(data.weights * jnp.sum(r**2, axis=1))

    def grad_fn(params, data, key):
        return jax.value_and_grad(loss)(params, data)

    return grad_fn
