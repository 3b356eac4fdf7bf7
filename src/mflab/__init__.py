"""mflab: feature learning in wide and deep neural networks.

Finite-network simulation (Langevin / SGLD), mean-field and infinite-width theory, and the
experiments that put them on one plot. Conventions: :mod:`mflab.conventions`.
"""
__version__ = "0.1.0"
