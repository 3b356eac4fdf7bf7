"""Depth-μP ResNets (paper C): coordinate checks, the depth limit, the reused-weight coupling and
learning-rate transfer. ``variants`` is the family's shared design, ``plots`` its figures."""
from . import coordinate_check, limit, coupling, transfer, nfd_limit  # noqa: F401
