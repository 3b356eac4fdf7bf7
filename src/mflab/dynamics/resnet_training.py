r"""Deterministic training of ResNets (:mod:`mflab.networks.resnet`): full-batch SGD or Adam with the
per-group rates of the depth parametrization table (:mod:`mflab.conventions`), on the one step
protocol and divergence guard (:mod:`mflab.dynamics.kernel`).

Example::

    >>> import jax, jax.numpy as jnp
    >>> from mflab.networks.resnet import ResNet
    >>> from mflab.dynamics.resnet_training import train
    >>> net = ResNet.create(16, 4, "tanh", "depth-mup")
    >>> X = jax.random.normal(jax.random.key(0), (8, 3)); y = jnp.sin(X[:, 0])
    >>> st = train(net, net.init(jax.random.key(1), 3), X, y, lr=0.1, steps=5)
    >>> bool(st.alive)
    True
"""
from __future__ import annotations

import jax.numpy as jnp

from ..errors import ConfigError
from ..networks.resnet import ResNet, resnet_mse
from .kernel import guard
from .objectives import TrainData
from .optimizers import optimizer_kernel
from .runner import advance


def train_kernel(net: ResNet, params, optimizer: str = "sgd"):
    """Full-batch SGD or Adam with the network's per-group rates (:mod:`mflab.conventions`), guarded
    (:func:`mflab.dynamics.kernel.guard`): ``step(state, None, lr, data) -> (state, OptInfo)``."""
    return guard(optimizer_kernel(resnet_mse(net), net.lr_multipliers(params, optimizer), optimizer))


def train(net: ResNet, params, X, y, lr: float, steps: int, optimizer: str = "sgd"):
    """``steps`` full-batch steps on the mean squared error (traceable: jit/vmap it, also over ``lr``).
    Returns the guarded state: ``.params``, and ``.alive`` / ``.diverged_at`` (a diverging step is
    rejected). Mode ``"ablate-coupling"`` trains through
    :func:`mflab.analysis.reused_weight_coupling.history_train` (SGD only: it keeps histories)."""
    if net.mode == "ablate-coupling":
        from ..analysis.reused_weight_coupling import history_train

        if optimizer != "sgd":
            raise ConfigError("optimizer", "the coupling ablation is defined for SGD", "use optimizer = 'sgd'")
        return history_train(net, params, X, y, lr, steps, swap="coupling")
    kernel = train_kernel(net, params, optimizer)
    data = TrainData(X, y, jnp.full(X.shape[0], 1.0 / X.shape[0], X.dtype))
    lr = jnp.asarray(lr, X.dtype)
    return advance(kernel, kernel.init(params), None, lr, data, steps)
