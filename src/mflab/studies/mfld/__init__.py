"""Mean-field Langevin dynamics under μP (paper A): propagation of chaos, sparse atoms of the long-time
measure, the four-way error decomposition. ``plots`` holds the family's figures."""
from . import chaos_rate, sparse_atoms, error_decomposition  # noqa: F401
