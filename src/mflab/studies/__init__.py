"""The built-in studies, grouped by family. Importing this package registers their presets.

* :mod:`.bayes`: Bayesian two-layer networks and their mean-field theory (paper B)
* :mod:`.mfld`: mean-field Langevin dynamics under μP (paper A)
* :mod:`.depth`: depth-μP ResNets and their infinite-depth limit (paper C)

A new study goes into its family's folder (or a new family folder imported here): a config
dataclass, a ``run(cfg, rd, progress, log) -> summary`` and a :func:`mflab.framework.presets.register`
call. See docs/architecture.md.
"""
from . import bayes, depth, mfld  # noqa: F401  (registration order = `mflab presets` order)
