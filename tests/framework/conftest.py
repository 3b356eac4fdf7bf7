import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minimal_study.py"


@pytest.fixture(scope="session")
def minimal_study():
    """examples/minimal_study.py imported once (it registers the preset feature-kernel-mc)."""
    if "minimal_study" in sys.modules:
        return sys.modules["minimal_study"]
    spec = importlib.util.spec_from_file_location("minimal_study", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["minimal_study"] = mod
    spec.loader.exec_module(mod)
    return mod
