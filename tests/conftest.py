import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("ci")


@pytest.fixture(scope="module")
def x64_module():
    """Run a whole test module in float64; restores the previous setting."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


@pytest.fixture
def x64():
    """Run a test in float64 (references are float64); restores the previous setting."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def gauss2d(fn, q1, q2, c, n=300):
    """float64 numpy reference: E[fn(u) fn(v)] for (u, v) ~ N(0, [[q1, c], [c, q2]]) by tensor
    Gauss–Hermite quadrature on a Cholesky factor (independent of mflab)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    L = np.linalg.cholesky(np.array([[q1, c], [c, q2]]) + 1e-300 * np.eye(2))
    Z1, Z2 = np.meshgrid(x, x, indexing="ij")
    U = L[0, 0] * Z1
    V = L[1, 0] * Z1 + L[1, 1] * Z2
    return float(np.einsum("i,j,ij->", w, w, fn(U) * fn(V)))


@pytest.fixture(scope="session")
def minimal_study():
    """examples/minimal_study.py imported once (it registers the preset feature-kernel-mc)."""
    import importlib.util
    import sys
    from pathlib import Path

    if "minimal_study" in sys.modules:
        return sys.modules["minimal_study"]
    path = Path(__file__).resolve().parents[1] / "examples" / "minimal_study.py"
    spec = importlib.util.spec_from_file_location("minimal_study", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["minimal_study"] = mod
    spec.loader.exec_module(mod)
    return mod
