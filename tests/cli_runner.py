"""The command line from tests: in this process (fast) or in its own (pipes, the installed entry point), and the
rows of the CSV tables a run writes."""
import csv
import subprocess
import sys
from pathlib import Path


def csv_rows(path) -> list[dict]:
    """The rows of a CSV table (a run's results/*.csv), as dicts of strings; the file is closed before returning."""
    return list(csv.DictReader(Path(path).read_text().splitlines()))


def mflab_process(*args, cwd=None, timeout=300):
    """The command in its own process: for what only a process shows (pipes, exit codes, the import)."""
    return subprocess.run([sys.executable, "-m", "mflab.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def mflab(*args, cwd=None, timeout=None):
    """The command run in this process through ``mflab.cli.main`` (what ``python -m mflab.cli`` calls):
    the same output and exit code as :func:`mflab_process` without a fresh interpreter and JAX import per
    call (about 2 s each). JAX's x64 flag, which a run sets from its precision, is restored afterwards."""
    import contextlib
    import io
    import os

    import jax

    from mflab.cli import main

    out, err, x64 = io.StringIO(), io.StringIO(), bool(jax.config.jax_enable_x64)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(cwd or os.getcwd()):
            try:
                rc = main([str(a) for a in args])
            except SystemExit as e:  # argparse's usage errors
                rc = e.code if isinstance(e.code, int) else 2
    finally:
        jax.config.update("jax_enable_x64", x64)
    return subprocess.CompletedProcess(list(args), rc, out.getvalue(), err.getvalue())


def mflab_warning_free(*args, cwd=None):
    """:func:`mflab`, failing the test on any RuntimeWarning the run raised (numpy's overflow, empty-slice and
    degrees-of-freedom warnings): noise a user would see beside the run's own lines."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        r = mflab(*args, cwd=cwd)
    runtime = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not runtime, runtime
    return r


def plant_divergence(out, unit, cloud: str, alive: str, replica: int, value=1e30):
    """Mark ``replica`` of a finished run's unit file as diverged: its ``cloud`` frozen at ``value`` (a last finite
    state far off) and its ``alive`` flag cleared, as the runner leaves a chain that blew up; the next
    ``mflab run`` on ``out`` resumes and reduces it."""
    from mflab.framework.rundir import RunDir
    from mflab.framework.study import UnitStore

    store = UnitStore(RunDir(out))
    saved = store.load(unit)
    saved[cloud][replica] = value
    saved[alive][replica] = False
    store.save(unit, saved)
