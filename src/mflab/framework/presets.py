"""The preset registry. A preset is a study's config class, its ``run`` function, full defaults and
``--quick`` overrides that fit a 2-core CPU in minutes. Studies register their own presets
(:func:`register`); this module knows none of them. The built-in catalogue is the package
:mod:`mflab.studies`, imported the first time a preset is looked up."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError, suggest


@dataclass(frozen=True)
class Preset:
    """A named experiment: its config class, how it runs, the default and quick overrides, the result tables a
    sweep gathers (with their index columns) and the columns' descriptions and units. Built by
    :meth:`mflab.framework.study.Study.preset`; registered with :func:`register`."""

    name: str
    description: str
    config_cls: type
    run: Callable
    defaults: dict
    quick: dict
    # result tables a sweep gathers (results/<name>.csv), each with the columns that index its rows
    tables: dict = field(default_factory=dict)
    describe: Callable | None = None  # summary -> lines that `mflab show` prints
    columns: dict = field(default_factory=dict)  # table column -> (description, units): sweep dataset attributes
    study: object = None  # the framework.study.Study behind it, if any


PRESETS: dict[str, Preset] = {}
BUILTIN_CATALOGUE = "mflab.studies"


def register(p: Preset) -> Preset:
    """Add a preset to the registry (a study module calls this at import)."""
    if p.name in PRESETS and PRESETS[p.name] is not p:
        raise ValueError(f"preset '{p.name}' is registered twice")
    PRESETS[p.name] = p
    return p


def all_presets() -> dict[str, Preset]:
    """Every registered preset, the built-in catalogue included."""
    importlib.import_module(BUILTIN_CATALOGUE)
    return PRESETS


def get_preset(name: str) -> Preset:
    if not isinstance(name, str):
        raise ConfigError("preset", f"must be a preset name in quotes, got {str(name)[:40]!r}",
                          'e.g. preset = "sgld-parity" (list them with `mflab presets`)')
    presets = all_presets()
    if name not in presets:
        raise ConfigError("preset", f"unknown preset '{name}'", suggest(name, presets) + "; list them with `mflab presets`")
    return presets[name]
