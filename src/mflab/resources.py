r"""What this machine can hold: its memory, and a one-line refusal of a run that would not fit.

A run that would die out of memory after minutes of work (or hang in swap) is refused before it
allocates anything, with the estimate, what the machine has and the fix. Estimates count the arrays a
run keeps alive at once (a study's own ``memory_bytes`` function) and are compared against
``MEMORY_FRACTION`` of the device's memory: an accelerator's limit when JAX has one, else the host's RAM.
"""
from __future__ import annotations

import os

from .errors import ConfigError

MEMORY_FRACTION = 0.8  # of the machine's memory a run may plan to use


def available_memory_bytes() -> int:
    """Memory of the device JAX computes on: an accelerator's ``bytes_limit``, else the host's RAM."""
    try:
        import jax

        stats = jax.devices()[0].memory_stats()
        if stats and "bytes_limit" in stats:
            return int(stats["bytes_limit"])
    except Exception:  # noqa: BLE001 - CPU devices have no memory_stats
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_memory(need_bytes: float, field: str, what: str, fix: str, available: int | None = None):
    """Refuse (ConfigError naming ``field``) when ``need_bytes`` exceeds MEMORY_FRACTION of the machine."""
    have = available_memory_bytes() if available is None else int(available)
    if need_bytes > MEMORY_FRACTION * have:
        raise ConfigError(field, f"{what} needs about {need_bytes / 2**30:.3g} GiB, this machine has "
                          f"{have / 2**30:.1f} GiB", fix)
