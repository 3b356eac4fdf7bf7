"""User-facing errors.

Every error a user can cause by bad input is a :class:`MflabError`. The CLI prints
``str(err)`` as one line (no traceback) and exits with status 2.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class MflabError(Exception):
    """Base class for errors caused by user input or by a run that cannot proceed."""


class ConfigError(MflabError, ValueError):
    """An invalid configuration value: names the field and how to fix it."""

    def __init__(self, field: str, problem: str, fix: str | None = None):
        self.field, self.problem, self.fix = field, problem, fix
        msg = f"config field '{field}': {problem}"
        if fix:
            msg += f" -- fix: {fix}"
        super().__init__(msg)

    def within(self, section: str) -> "ConfigError":
        """The same error with the config section prefixed to its field: library code names its own
        argument (``width``), the config layer adds where it sits (``network.width``)."""
        return ConfigError(f"{section}.{self.field}", self.problem, self.fix)


class DivergenceError(MflabError, FloatingPointError):
    """Every chain of a run diverged (NaN/inf); the partial results were kept."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """A 'did you mean ...' hint for a misspelt name, or the list of valid names."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'? (valid: {', '.join(choices)})"
    return f"valid choices: {', '.join(choices)}"
