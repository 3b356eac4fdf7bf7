r"""The "learning cell" of (σ, ρ) for a target (notes A §6, [PROP]): the triple (w*, D*_orb, S*) with
its context, in one call.

* w*: growth boundary of the initialisation's moment sequence (:func:`mflab.analysis.moment_class.w_star`;
  both weight types; ``admissible`` False for heavy tails);
* S*: support of the population TV problem at weight decay λ (sliding Frank–Wolfe,
  :func:`mflab.theory.sparse_bound.frank_wolfe`): the computable ground truth for the number of atoms
  of the long-time measure at τ → 0; S_up its closed-form coefficient-threshold bound;
* D*_orb and D*_var for S = S* atoms in the target's span (dimension d_eff = rank of the target
  directions), by collision search and Jacobian rank (:mod:`mflab.analysis.moment_depth`);
* the Hermite support K(σ), the symmetry structure, and the realizable / unrealizable tail energies of a
  Hermite-dictionary target (:func:`mflab.analysis.error_decomposition.hermite_tail`).

ρ is N(0, I_d): every closed form here assumes Gaussian inputs. τ enters only as a note: S* is the
τ → 0 support (at τ > 0 the Gibbs measure has full support and atoms are clusters of width ~ √τ).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..networks.activations import get_activation
from .identifiability import symmetry_structure
from .moment_class import w_star
from .moment_depth import hermite_support, orbit_depth, variety_depth


def learning_cell(activation, rho: str, init, target, lam: float, tau: float = 0.0, orbit_restarts: int = 4,
                  D_max: int = 5, seed: int = 0, log=None) -> dict:
    """The learning cell (module docstring) as a JSON-ready dict; ``log(message)`` hears each phase as it
    starts (the orbit search takes most of the time)."""
    import time

    t0 = time.perf_counter()
    say = (lambda m: log(f"cell: {m} ({time.perf_counter() - t0:.0f} s)")) if log else (lambda m: None)
    from ..tasks.hermite import HermiteDictionary
    from ..theory.sparse_bound import frank_wolfe, s_up_closed_form, target_atoms

    act = get_activation(activation)
    if rho != "gaussian":
        raise ConfigError("rho", f"only Gaussian inputs have the closed forms used here, got '{rho}'",
                          "use rho = 'gaussian'")
    if not (np.isfinite(lam) and lam > 0):
        raise ConfigError("lam", f"must be a finite number > 0, got {lam!r}",
                          "the sparse problem needs a weight decay, e.g. 0.05")
    if not (np.isfinite(tau) and tau >= 0):
        raise ConfigError("tau", f"must be a finite number >= 0, got {tau!r}", "tau = 0 is the noiseless limit")
    for name, v, least in (("orbit_restarts", orbit_restarts, 1), ("D_max", D_max, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
            raise ConfigError(name, f"must be an integer >= {least}, got {v!r}", f"e.g. {name} = {max(least, 4)}")
    V = np.array([np.asarray(v, float) for _, v, _ in target_atoms(target)])
    d = V.shape[1]
    say("moment class w*")
    ws = w_star(init, d)
    say("sparse atoms S* (Frank-Wolfe)")
    fw = frank_wolfe(act, target, lam, seed=seed)
    sup = s_up_closed_form(act, target, lam)
    S = max(fw["S_star"], 1)
    d_eff = int(np.linalg.matrix_rank(V))
    say(f"variety depth (S = {S}, d = {d_eff})")
    var = variety_depth(act, S, d_eff, D_max=D_max + 2, trials=5, seed=seed)
    say(f"orbit depth, {orbit_restarts} restarts per depth up to {D_max}")
    orb = orbit_depth(act, S, d_eff, D_max=D_max, restarts=orbit_restarts, seed=seed)
    st = symmetry_structure(act)
    cell = {
        "activation": act.name, "rho": rho, "lam": lam, "tau": tau,
        "init": {"family": init.family, "scale": init.scale, "dof": init.dof, "scale_w_by_dim": init.scale_w_by_dim},
        "w_star": {"gaussian_weight": ws["gaussian"]["w_star"], "exponential_weight": ws["exponential"]["w_star"],
                   "closed_form": {w: ws[w]["closed_form"] for w in ("gaussian", "exponential")},
                   "admissible": ws["admissible"], **({"reason": ws["gaussian"]["reason"]} if not ws["admissible"] else {})},
        "S_star": fw["S_star"], "S_up": sup["S_up"], "thresholds": sup["thresholds"],
        "frank_wolfe_certificate": fw["certificate"],
        "D_orb": orb["D_orb"], "D_var": var["D_var"], "depth_atoms": S, "depth_dimension": d_eff,
        "hermite_support": hermite_support(act, 12),
        "symmetries": list(st.notes),
        "triple": [ws["gaussian"]["w_star"], orb["D_orb"], fw["S_star"]],
    }
    if isinstance(target, HermiteDictionary):
        from .error_decomposition import hermite_tail

        tail = hermite_tail(act, target)
        cell.update(realizable_energy=tail["realizable"], unrealizable_energy=tail["unrealizable"],
                    unrealizable_degrees=tail["unrealizable_degrees"])
    else:
        cell.update(realizable_energy=float(target.target_power), unrealizable_energy=0.0, unrealizable_degrees=[])
    if tau > 0:
        cell["note"] = f"S* is the tau -> 0 support; at tau = {tau:g} atoms are clusters of width ~ sqrt(tau)"
    return cell
