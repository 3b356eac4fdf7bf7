r"""Self-describing run directories with atomic writes.

Layout::

    RUN/
      config.toml        the full resolved configuration (re-runnable: ``mflab run RUN/config.toml``)
      provenance.json    mflab/JAX/numpy versions, git revision, seed, platform, device, command
      summary.json       headline numbers (machine-readable; ``mflab show RUN``)
      results/           tidy CSV tables and .npz arrays
      figures/           PNG and PDF
      checkpoint.npz     resumable state of an unfinished run (removed when it completes)
      .mflab-run         marks the folder as mflab's (a folder mflab did not create is never written)
      .lock              the pid and host of the live run that holds the folder (removed when it ends)

Every file is written to a temporary name in the same folder, flushed, fsynced and renamed over
the target, so a file that exists is complete. No absolute path of the host is written.

**Checkpoints and unit files carry the configuration they belong to**: :meth:`RunDir.write_checkpoint`
stamps the hash of the run's ``config.toml`` (:func:`config_digest`) into the file and
:meth:`RunDir.read_checkpoint` refuses, in one line, a file whose stamp differs (copied from another
run), that is damaged, or that predates the stamp; ``--force`` starts the run over.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import platform
import socket
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


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_digest(config: dict) -> str:
    """First 16 hex digits of the SHA-256 of a configuration's canonical JSON: the identity of a run's
    configuration (checkpoint stamps) and of a sweep point (its store key)."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


MARKER = ".mflab-run"
LOCK = ".lock"
STAMP = "__config__"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def make_folder(path: Path, what: str):
    """Create a run or sweep folder (``what``), or say in one line that it cannot be created."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MflabError(f"cannot create the {what} directory '{path}' ({e.strerror or type(e).__name__}); "
                         "fix: choose a writable --out") from None


@contextlib.contextmanager
def folder_lock(path: Path, what: str):
    """Hold ``path/.lock`` (pid and host) while the body runs: a second live run on the same folder is
    refused in one line; a lock left by a dead process on this host is taken over."""
    make_folder(path, what.split()[0])
    lock = path / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text())
                pid, host = int(owner["pid"]), str(owner["host"])
            except (OSError, ValueError, KeyError, TypeError):
                pid, host = -1, me["host"]  # unreadable: a crash mid-write; treat as stale
            if host == me["host"] and (pid < 0 or not _pid_alive(pid)):
                lock.unlink(missing_ok=True)
                continue
            where = f"pid {pid}" + (f" on host {host}" if host != me["host"] else "")
            raise MflabError(f"{what} '{path.name}' is in use by a live run ({where}); fix: wait for it to "
                             f"finish or stop it (--force does not override a live run; delete {path.name}/{LOCK} "
                             "only if that process is gone)")
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me))
        break
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(lock.read_text()).get("pid") == me["pid"]:
                lock.unlink()


class RunDir:
    """A self-describing run directory: atomic writers for text, JSON, tables, arrays and figures; stamped
    checkpoints and unit files (refused when foreign or damaged); the ownership marker and the live-run lock."""

    def __init__(self, path):
        self.path = Path(path)

    # -- writers ------------------------------------------------------------------------
    def write_text(self, name: str, text: str):
        atomic_write_bytes(self.path / name, text.encode())

    def write_json(self, name: str, obj):
        self.write_text(name, json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")

    def write_config(self, config: dict):
        atomic_write_bytes(self.path / "config.toml", tomli_w.dumps(config).encode())
        self._stamp = None  # read back from the file: the stamp is what a later process will see

    def write_table(self, name: str, rows: list[dict]):
        """A tidy CSV table (one row per observation)."""
        atomic_write_bytes(self.path / "results" / f"{name}.csv", tidy_csv(rows))

    def write_arrays(self, name: str, **arrays):
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        atomic_write_bytes(self.path / name, buf.getvalue())

    # -- checkpoints: stamped with the configuration they belong to ------------------------
    def config_stamp(self) -> str:
        """:func:`config_digest` of this directory's ``config.toml`` (what checkpoints are stamped with);
        ``"unconfigured"`` for a bare folder (a library user's scratch directory)."""
        if getattr(self, "_stamp", None) is None:
            cfg = self.read_config()
            self._stamp = "unconfigured" if cfg is None else config_digest(cfg)
        return self._stamp

    def write_checkpoint(self, name: str, **arrays):
        """Arrays of a resumable state, stamped with :meth:`config_stamp` (module docstring)."""
        self.write_arrays(name, **{STAMP: np.asarray(self.config_stamp())}, **arrays)

    def live_owner(self) -> int | None:
        """The pid of a live run holding this folder on this host (its ``.lock``), None when there is none."""
        try:
            owner = json.loads((self.path / LOCK).read_text())
            pid, host = int(owner["pid"]), str(owner["host"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return pid if host == socket.gethostname() and _pid_alive(pid) else None

    def checkpoint_progress(self) -> list[tuple[str, int, float]]:
        """(file, step reached, modification time) of every chain checkpoint that records ``steps_done``, so
        an unfinished run can say where it stands; unreadable files are skipped (resuming reports them)."""
        out = []
        for p in sorted([*self.path.glob("checkpoint*.npz"), *(self.path / "checkpoints").glob("*.npz")]):
            try:
                with open(p, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh: closed even if not a zip
                    if "steps_done" in z.files:
                        out.append((p.relative_to(self.path).as_posix(), int(z["steps_done"]), p.stat().st_mtime))
            except Exception:  # noqa: BLE001 - a damaged file is the resume path's to report
                continue
        return out

    def read_checkpoint(self, name: str, what: str = "checkpoint") -> dict | None:
        """The arrays of checkpoint ``name`` (None when there is none). A damaged file, one stamped with
        another configuration, or one without a stamp is refused in one line naming the file and the fix."""
        p = self.path / name
        if not p.exists():
            return None
        why = None
        try:
            with open(p, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh: closed even if not a zip
                arrays = {k: z[k] for k in z.files}
        except Exception as e:  # truncated, zeroed, not a zip, a bad member: all "damaged"
            why, arrays = f"damaged: {type(e).__name__}", {}
        if why is None:
            stamp = str(arrays.pop(STAMP)) if STAMP in arrays else None
            if stamp is None:
                why = "it carries no configuration stamp (another program's, or an older mflab's)"
            elif stamp != self.config_stamp():
                why = "it belongs to another configuration"
        if why is not None:
            raise MflabError(f"{what} '{name}' cannot be resumed ({why}); fix: delete it to recompute that part, "
                             "or rerun with --force to start the run over")
        return arrays

    def save_figure(self, fig, name: str):
        import matplotlib.pyplot as plt

        for ext in ("png", "pdf"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=130, bbox_inches="tight")
            atomic_write_bytes(self.path / "figures" / f"{name}.{ext}", buf.getvalue())
        plt.close(fig)

    # -- readers ------------------------------------------------------------------------
    def _read(self, name: str, parse, fix: str):
        """``parse`` of the run's file ``name`` (None when absent); a damaged one is refused in one line."""
        p = self.path / name
        if not p.exists():
            return None
        try:
            return parse(p.read_text())
        except (OSError, ValueError) as e:
            raise MflabError(f"'{self.path.name}/{name}' is damaged ({type(e).__name__}); fix: {fix}") from None

    def read_json(self, name: str):
        """A JSON file of the run (None when absent); a damaged one is refused in one line."""
        return self._read(name, json.loads, "rerun the run (it resumes and rewrites it)")

    def read_config(self) -> dict | None:
        """The run's configuration (None when absent); a damaged config.toml is refused in one line."""
        import tomllib

        return self._read("config.toml", tomllib.loads, "rerun with --force to start over, or choose another --out")

    def is_mflab_run(self) -> bool:
        """Whether mflab made this folder a run directory (its marker, or the provenance of an older mflab)."""
        return (self.path / MARKER).is_file() or (self.path / "provenance.json").is_file()

    def check_claimable(self):
        """Refuse (one line) a folder a run must never write into: a sweep store, or a non-empty folder
        mflab did not create (the user's own files). Whatever ``--force`` says; a missing folder is fine."""
        if (self.path / "sweep.toml").is_file():
            raise MflabError(f"'{self.path.name}' is a sweep store; a single run never writes into it; "
                             "fix: choose another --out (or rerun the sweep with its sweep.toml)")
        if (self.path.is_dir() and not self.is_mflab_run()
                and any(p.name not in (LOCK,) for p in self.path.iterdir())):
            raise MflabError(f"'{self.path.name}' is not empty and was not created by mflab; fix: choose another "
                             "--out (a new or empty folder); mflab never writes among files it did not make")

    def prepare(self, config: dict, force: bool = False, upgrade=None) -> bool:
        """Claim the directory for ``config``. Returns True when it already holds the same
        configuration (resume). A different configuration is refused unless ``force``, which starts the
        run over (also the way out of a damaged checkpoint). Never written: a sweep store, or a non-empty
        folder mflab did not create (the user's own files), whatever ``force`` says.

        ``upgrade(old) -> dict``: the stored configuration as this version resolves it (fields added since
        it was written take their defaults). A run written before a field existed resumes when its upgraded
        configuration is ``config``; its ``config.toml`` is kept as written, so its checkpoints' stamps
        still match."""
        make_folder(self.path, "run")
        self.check_claimable()
        try:
            old = self.read_config()
        except MflabError:
            if not force:
                raise
            old = None
        if old is not None and old != config and upgrade is not None and not force:
            try:
                if upgrade(old) == config:
                    return True  # the same run, written by an earlier version
            except (MflabError, TypeError, ValueError):
                pass  # a field since removed or changed: a different configuration
        if old is not None and (old != config or force):
            if old != config and not force:
                raise MflabError(f"run directory '{self.path.name}' holds a different configuration; "
                                 "fix: choose another --out, or pass --force to overwrite it")
            self.clear()
        try:
            atomic_write_bytes(self.path / MARKER, b"mflab run directory\n")
            self.write_config(config)
        except OSError as e:
            raise MflabError(f"cannot write into '{self.path}' ({e.strerror or type(e).__name__}); "
                             "fix: choose a writable --out") from None
        return old == config and not force

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
        self._stamp = None


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


HOST_OPTIONS = ("--scheduler",)  # options whose value names a host: never written to a run directory


def command_line(argv: list[str]) -> list[str]:
    """The command as run, without host details: absolute paths reduced to their last part (also in
    ``--opt=/abs`` form), the values of host options (a scheduler address) replaced by ``<host>``."""
    out, hide = [Path(argv[0]).name], False
    for a in argv[1:]:
        if hide:
            out.append("<host>")
            hide = False
            continue
        opt, eq, val = a.partition("=")
        if opt in HOST_OPTIONS:
            out.append(f"{opt}=<host>" if eq else opt)
            hide = not eq
        elif eq and opt.startswith("--") and os.path.isabs(val):
            out.append(f"{opt}={Path(val).name}")
        else:
            out.append(Path(a).name if os.path.isabs(a) else a)
    return out


def provenance(seed: int, extra: dict | None = None) -> dict:
    import jax
    import jaxlib

    import mflab

    dev = jax.devices()[0]
    argv = command_line(sys.argv)
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
