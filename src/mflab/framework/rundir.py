r"""Self-describing run directories with atomic writes.

Layout::

    RUN/
      config.toml        the full resolved configuration (re-runnable: ``mflab run RUN/config.toml``)
      provenance.json    mflab/JAX/numpy versions, git revision, seed, platform, device, command
      summary.json       headline numbers (machine-readable; ``mflab show RUN``)
      results/           tidy CSV tables and .npz arrays
      figures/           PNG and PDF
      checkpoint.npz     resumable state of an unfinished run (removed when it completes)

Every file is written to a temporary name in the same folder, flushed, fsynced and renamed over
the target, so a file that exists is complete. No absolute path of the host is written.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tomli_w

from ..errors import MflabError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes):
    """Write through a temporary file and an atomic rename. The file gets the mode a plain ``open`` would
    give it (0666 minus the umask), not the 0600 of the temporary file, so shared group folders work."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def tidy_csv(rows: list[dict]) -> bytes:
    """CSV bytes of a list of row dicts; columns are the union of keys in first-seen order."""
    buf = io.StringIO()
    if rows:
        fields = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", restval="")
        w.writeheader()
        for r in rows:
            w.writerow({k: _jsonable(v) for k, v in r.items()})
    return buf.getvalue().encode()


class RunDir:
    def __init__(self, path):
        self.path = Path(path)

    # -- writers ------------------------------------------------------------------------
    def write_text(self, name: str, text: str):
        atomic_write_bytes(self.path / name, text.encode())

    def write_json(self, name: str, obj):
        self.write_text(name, json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")

    def write_config(self, config: dict):
        atomic_write_bytes(self.path / "config.toml", tomli_w.dumps(config).encode())

    def write_table(self, name: str, rows: list[dict]):
        """A tidy CSV table (one row per observation)."""
        atomic_write_bytes(self.path / "results" / f"{name}.csv", tidy_csv(rows))

    def write_arrays(self, name: str, **arrays):
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        atomic_write_bytes(self.path / name, buf.getvalue())

    def save_figure(self, fig, name: str):
        import matplotlib.pyplot as plt

        for ext in ("png", "pdf"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=130, bbox_inches="tight")
            atomic_write_bytes(self.path / "figures" / f"{name}.{ext}", buf.getvalue())
        plt.close(fig)

    # -- readers ------------------------------------------------------------------------
    def read_json(self, name: str):
        p = self.path / name
        return json.loads(p.read_text()) if p.exists() else None

    def read_config(self) -> dict | None:
        import tomllib

        p = self.path / "config.toml"
        return tomllib.loads(p.read_text()) if p.exists() else None

    def prepare(self, config: dict, force: bool = False) -> bool:
        """Claim the directory for ``config``. Returns True when it already holds the same
        configuration (resume). A different configuration is refused unless ``force``."""
        old = self.read_config()
        if old is not None and old != config:
            if not force:
                raise MflabError(f"run directory '{self.path.name}' holds a different configuration; "
                                 "fix: choose another --out, or pass --force to overwrite it")
            self.clear()
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_config(config)
        return old == config

    def finish(self, summary: dict):
        """Write the summary and remove checkpoints: the run is complete."""
        import shutil

        self.write_json("summary.json", summary)
        for ck in self.path.glob("checkpoint*.npz"):
            ck.unlink()
        if (self.path / "checkpoints").is_dir():
            shutil.rmtree(self.path / "checkpoints")

    def clear(self):
        """Remove what a run wrote (results, figures, checkpoints, summaries), so nothing computed
        under another configuration survives an overwrite. Other files are left alone."""
        import shutil

        for sub in ("results", "figures", "checkpoints"):
            if (self.path / sub).is_dir():
                shutil.rmtree(self.path / sub)
        for pattern in ("checkpoint*.npz", "summary.json", "report.md", "provenance.json", "config.toml"):
            for p in self.path.glob(pattern):
                p.unlink()


def git_revision() -> str | None:
    """The git revision of the mflab source checkout (with '-dirty' if modified), or None."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(seed: int, extra: dict | None = None) -> dict:
    import jax
    import jaxlib

    import mflab

    dev = jax.devices()[0]
    argv = [Path(sys.argv[0]).name] + sys.argv[1:]
    argv = [Path(a).name if os.path.isabs(a) else a for a in argv]  # no host paths
    out = {
        "mflab": mflab.__version__, "git_revision": git_revision(), "seed": seed,
        "jax": jax.__version__, "jaxlib": jaxlib.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}", "n_devices": jax.device_count(),
        "x64": bool(jax.config.jax_enable_x64), "command": " ".join(argv),
    }
    out.update(extra or {})
    return out


def resumable(todo: list, n_done: int, what: str, desc: str, unit: str, progress: bool = True, log=None):
    """Iterate over the unfinished cells of a resumable run: says "resuming: <n_done> <what> done, <k> to
    go" when some are finished, and advances a progress bar (stderr) after each cell's body has run
    (so the caller writes its partial results before the bar moves)."""
    log = log or (lambda m: print(m, file=sys.stderr))
    if n_done:
        log(f"resuming: {n_done} {what} done, {len(todo)} to go")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=desc, unit=unit, file=sys.stderr)
    try:
        for item in todo:
            yield item
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
