r"""The one step protocol of every sampler and trainer, and the one divergence guard.

A kernel is a pair of pure functions (the blackjax shape)::

    init(params) -> state                      # state is a pytree whose first field is ``params``
    step(state, key, hyper, data) -> (state, info)

``hyper`` holds per-chain hyperparameters (traced, so a batch of chains can differ under one
compile), ``data`` the chain's data, ``info`` the step's diagnostics (a NamedTuple with at least
``loss``), kept apart from the state. A *clocked* kernel (``Kernel(init, step, clocked=True)``) also
takes the index t of the step it takes, ``step(state, key, hyper, data, t)`` (t = 0 for a run's first
step; None: read it from the state). The runner passes t unbatched, the same for every chain of a
batch, so a kernel that does something every K steps (:mod:`.readout_gibbs`) can branch on t with
``lax.cond`` and keep the branch a branch under ``vmap``: a per-chain predicate turns a cond into a
select that computes both branches at every step. Langevin/SGLD (:mod:`.langevin`), SGD/Adam (:mod:`.optimizers`),
MALA (:mod:`.mala`) and the mean-field Langevin particle system (:mod:`.mean_field_langevin`) all
follow it; :func:`mflab.dynamics.runner.run_chains` drives any of them.

:func:`guard` wraps any kernel: a step whose loss or new state is not finite is rejected, the chain
is frozen at its last finite state with ``alive = False``, ``diverged_at`` = the number of steps it
had accepted, and ``bad_leaf`` = the index (in ``jax.tree_util.tree_leaves(state)``) of the first
non-finite leaf, −1 for the loss. Since ``params`` is the first field of every state, the index of a
parameter leaf is its index in ``tree_leaves(params)``. Other chains of a batch are unaffected.

Example::

    >>> import jax, jax.numpy as jnp
    >>> from mflab.dynamics import guard, langevin, constant, Hyper
    >>> grad_fn = lambda p, data, key: (jnp.sum(p ** 2), 2 * p)
    >>> kernel = guard(langevin(grad_fn, prior_var=1.0, schedule=constant()))
    >>> state = kernel.init(jnp.ones(3))
    >>> state, info = kernel.step(state, jax.random.key(0), Hyper(jnp.asarray(0.01), jnp.asarray(0.1)), None)
    >>> bool(state.alive), int(state.steps)
    (True, 1)
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


class Kernel(NamedTuple):
    """``init(params) -> state``; ``step(state, key, hyper, data) -> (state, info)``, or with ``clocked``
    ``step(state, key, hyper, data, t)`` (module docstring)."""

    init: Callable
    step: Callable
    clocked: bool = False


class Guarded(NamedTuple):
    """A kernel state under :func:`guard`: the inner ``state`` and the divergence record."""

    state: Any
    steps: jax.Array  # accepted steps
    alive: jax.Array
    diverged_at: jax.Array
    bad_leaf: jax.Array

    @property
    def params(self):
        return self.state.params

    def __getattr__(self, name):  # the inner state's fields read through: guarded.coupling, guarded.outputs
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.state, name)


def _inexact(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def guard(kernel: Kernel) -> Kernel:
    """The kernel with non-finite steps rejected and recorded (module docstring)."""

    def init(params, *args) -> Guarded:
        return Guarded(kernel.init(params, *args), jnp.zeros((), jnp.int32), jnp.ones((), bool),
                       jnp.full((), -1, jnp.int32), jnp.full((), -1, jnp.int32))

    def step(g: Guarded, key, hyper, data, *t):  # t: a clocked kernel's step index
        new, info = kernel.step(g.state, key, hyper, data, *t)
        old_leaves, treedef = jax.tree_util.tree_flatten(g.state)
        new_leaves = treedef.flatten_up_to(new)
        loss = getattr(info, "loss", None)
        finite = [jnp.asarray(True) if loss is None else jnp.all(jnp.isfinite(loss))]
        for o, n in zip(old_leaves, new_leaves):
            # a leaf the kernel passed through unchanged (frozen) cannot have become non-finite
            finite.append(jnp.asarray(True) if (n is o or not _inexact(n)) else jnp.all(jnp.isfinite(n)))
        finite = jnp.stack(finite)
        ok = g.alive & jnp.all(finite)
        kept = treedef.unflatten([jnp.where(ok, n, o) for o, n in zip(old_leaves, new_leaves)])
        just_died = g.alive & ~ok
        first_bad = (jnp.argmin(finite) - 1).astype(jnp.int32)  # -1: the loss; i: leaf i of the state
        return Guarded(kept, g.steps + ok.astype(jnp.int32), ok,
                       jnp.where(just_died, g.steps, g.diverged_at),
                       jnp.where(just_died, first_bad, g.bad_leaf)), info

    return Kernel(init, step, kernel.clocked)


def divergence_message(chains, steps, leaves, fix: str, of: int | None = None) -> str:
    """One line saying which chains diverged (in one chunk), where, and what to change: each chain named
    when there are at most three, else their count, first and last step and the leaves at fault."""
    what = lambda leaf: "loss" if leaf < 0 else f"parameter leaf {leaf}"  # noqa: E731
    frozen = "frozen at their last finite state" if len(chains) > 1 else "frozen at its last finite state"
    if len(chains) <= 3:
        where = "; ".join(f"chain {c} diverged at step {s} (non-finite {what(lf)})" for c, s, lf in
                          zip(chains, steps, leaves))
        return f"{where}; {'they are' if len(chains) > 1 else 'it is'} {frozen}. Fix: {fix}."
    span = f"step {min(steps)}" if min(steps) == max(steps) else f"steps {min(steps)}–{max(steps)}"
    causes = ", ".join(what(lf) for lf in sorted(set(leaves)))
    count = f"{len(chains)} of {of}" if of else f"{len(chains)}"
    return (f"{count} chains diverged (chains {_ranges(chains)}) at {span} (non-finite {causes}); "
            f"they are {frozen}. Fix: {fix}.")


def _ranges(ints) -> str:
    """Sorted integers as runs: [0, 1, 2, 5, 7, 8] -> '0–2, 5, 7–8'."""
    runs, ints = [], sorted(ints)
    for i in ints:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)
