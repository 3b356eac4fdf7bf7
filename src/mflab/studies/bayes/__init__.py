"""Bayesian two-layer networks (paper B): SGLD posteriors, NNGP-KRR, MF and MF-ARD on one (P, κ) design.

``sections`` (task / network / sampler config), ``design`` (the shared chain grid, SGLD simulation,
KRR on the same data), ``plots``; studies ``sgld_parity`` and ``phase`` (parity-phase, hermite-index)."""
from . import sgld_parity, phase  # noqa: F401
