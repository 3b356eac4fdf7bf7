"""The ``mflab`` command line: run presets or config files, list presets, summarise runs.

User errors (bad configuration, a refused directory, a run whose chains all diverged) print one
line ``mflab: error: ...`` and exit with status 2; nothing already written is removed.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import tomllib
from pathlib import Path

from .errors import ConfigError, MflabError


def read_toml(target: str) -> dict | None:
    """The parsed TOML file named by ``target``, or None when ``target`` is a preset name."""
    path = Path(target)
    if not (target.endswith(".toml") or path.is_file()):
        return None
    if not path.is_file():
        raise MflabError(f"config file '{target}' does not exist; fix: check the path")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MflabError(f"config file '{path.name}' is not valid TOML ({e}); fix: check its syntax") from None


def build_config(target: str, quick: bool, sets: list[str], data: dict | None = None):
    """Resolve (preset, config object) from a preset name or a TOML file, --quick and --set."""
    from .framework.config import deep_merge, from_dict, parse_set
    from .framework.presets import get_preset

    path = Path(target)
    if data is not None:
        if "preset" not in data:
            raise ConfigError("preset", f"'{path.name}' does not name its preset",
                              'add preset = "sgld-parity" (see `mflab presets`)')
        preset = get_preset(data["preset"])
        base = preset.defaults
    else:
        preset = get_preset(target)
        data, base = {}, preset.defaults
    merged = deep_merge(base, preset.quick) if quick else dict(base)
    merged = deep_merge(merged, data)
    merged = deep_merge(merged, parse_set(sets))
    merged["preset"] = preset.name
    return preset, from_dict(preset.config_cls, merged)


def cmd_sweep(args, data: dict) -> int:
    from .framework.rundir import folder_lock
    from .framework.sweeps.executors import check_executor, make_executor
    from .framework.sweeps.store import SweepStore
    from .framework.sweeps.spec import load_sweep
    from .framework.sweeps.runner import run_sweep

    if args.set:
        raise MflabError("--set does not apply to sweep files; fix: edit the file (fixed values go outside [sweep])")
    if args.quick and isinstance(data.get("sweep"), dict):
        data["sweep"]["quick"] = True  # stored in sweep.toml, so `mflab show` expands the same points
    sw = load_sweep(data)
    check_executor(args.executor, args.scheduler, args.workers)
    if args.out is not None and not str(args.out).strip():
        raise ConfigError("--out", "is empty", "name a directory, e.g. --out runs/my-sweep (or leave --out out)")
    out = Path(args.out) if args.out else Path("runs") / Path(args.target).stem
    store = SweepStore(out)
    with folder_lock(out, "sweep directory"):
        removed = store.open(data, force=args.force)
        if removed:
            print(f"mflab: removed {removed} partly written point(s); they will be recomputed", file=sys.stderr)
        print(f"mflab: sweep {sw.preset.name} ({len(sw.points)} points, executor {args.executor}) -> {out}",
              file=sys.stderr)
        executor = make_executor(args.executor, args.scheduler, args.workers)
        try:
            summary = run_sweep(sw, store, executor, retry_failed=args.retry_failed, progress=not args.no_progress)
        finally:
            executor.close()
    print(f"mflab: sweep {summary['status']}: {summary['done']}/{summary['points']} points done, "
          f"{summary['failed']} failed; results in {out / 'results'}", file=sys.stderr)
    if summary["failed"]:
        print(f"mflab: error: {summary['failed']} point(s) failed (`mflab show {out}` lists them; their "
              "tracebacks and partial files are in failed/); fix: correct the cause and rerun with --retry-failed",
              file=sys.stderr)
        return 1
    return 0


def default_out(args, preset_name: str) -> Path:
    """The run directory: ``--out``; else the directory of a run's own ``config.toml`` (rerunning it resumes
    there); else ``runs/<preset>[-quick]``, with a short hash of the ``--set`` overrides appended when there
    are any (so an override run and a plain one do not claim the same directory)."""
    import hashlib

    if args.out is not None:
        if not str(args.out).strip():
            raise ConfigError("--out", "is empty", "name a directory, e.g. --out runs/my-run (or leave --out out)")
        return Path(args.out)
    target = Path(args.target)
    if target.name == "config.toml" and (target.parent / "provenance.json").is_file():
        return target.parent
    name = preset_name + ("-quick" if args.quick else "")
    if args.set:
        name += "-" + hashlib.sha1("\n".join(sorted(args.set)).encode()).hexdigest()[:8]
    return Path("runs") / name


def cmd_run(args) -> int:
    from .framework.config import from_dict, to_dict
    from .framework.rundir import RunDir, folder_lock
    from .framework.sweeps.spec import is_sweep

    data = read_toml(args.target)
    if is_sweep(data):
        return cmd_sweep(args, data)
    if args.executor != "local" or args.scheduler or args.retry_failed:
        raise MflabError("--executor, --scheduler and --retry-failed apply to sweep files; "
                         "fix: add a [sweep] table to the config (see docs/sweeps.md)")
    preset, cfg = build_config(args.target, args.quick, args.set or [], data)
    out = default_out(args, preset.name)
    rd = RunDir(out)
    rd.check_claimable()  # before the lock: a sweep store or the user's folder gets no file of a run
    with folder_lock(out, "run directory"):
        resumed = rd.prepare(to_dict(cfg), force=args.force, upgrade=lambda old: to_dict(from_dict(type(cfg), old)))
        print(f"mflab: {'resuming' if resumed else 'running'} {preset.name} -> {out}", file=sys.stderr)
        summary = preset.run(cfg, rd, progress=not args.no_progress)
    print(f"mflab: done ({summary.get('status')}); summary in {out / 'summary.json'}", file=sys.stderr)
    return 0


def cmd_presets(args) -> int:
    from .framework.presets import all_presets

    for p in all_presets().values():
        print(f"{p.name:20s} {p.description}")
    return 0


def cmd_show(args) -> int:
    from .framework.rundir import RunDir

    rd = RunDir(args.dir)
    if not rd.path.is_dir():
        raise MflabError(f"'{args.dir}' is not a directory; fix: pass a run directory written by `mflab run`")
    if (rd.path / "sweep.toml").is_file():
        return show_sweep(rd.path, args.json)
    cfg, summary, prov = rd.read_config(), rd.read_json("summary.json"), rd.read_json("provenance.json")
    if cfg is None:
        raise MflabError(f"'{args.dir}' has no config.toml; fix: pass a run directory written by `mflab run`")
    if args.json:
        print(json.dumps({"config": cfg, "summary": summary, "provenance": prov}, indent=2))
        return 0
    print(f"run: {rd.path.name}   preset: {cfg.get('preset')}   seed: {cfg.get('seed')}")
    if prov:
        print(f"mflab {prov.get('mflab')} (git {prov.get('git_revision')}), jax {prov.get('jax')}, {prov.get('device')}")
    if summary is None:
        partial = any(rd.path.glob("checkpoint*.npz")) or (rd.path / "checkpoints").is_dir() or (rd.path / "results" / "units").is_dir()
        pid = rd.live_owner()
        if pid is not None:
            state = f"running (pid {pid})"
        else:
            state = "interrupted (partial results present: rerun the same command to resume)" if partial else "not finished"
        print(f"status: {state}")
        total = (cfg.get("sgld") or {}).get("steps")
        for name, step, mtime in rd.checkpoint_progress():
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime))
            print(f"  checkpoint {name}: step {step:,}" + (f" of {total:,}" if isinstance(total, int) else "")
                  + f" (saved {when})")
        return 0
    for line in describe_summary(cfg.get("preset"), summary):
        print(line)
    figs = sorted(p.name for p in (rd.path / "figures").glob("*.png")) if (rd.path / "figures").is_dir() else []
    print("figures: " + ", ".join(figs))
    return 0


def describe_summary(preset_name, summary: dict) -> list[str]:
    """The lines `mflab show` prints for a finished run: the study's own ``describe`` when it has one,
    otherwise its status and the scalar headline numbers of the summary."""
    from .framework.presets import all_presets

    preset = all_presets().get(preset_name)
    lines = [f"status: {summary.get('status')}"]
    if preset is not None and preset.describe is not None:
        try:
            return lines + list(preset.describe(summary))
        except (KeyError, TypeError, ValueError, AttributeError):  # a damaged or older summary
            lines.append("  (the summary does not have this study's fields; the headline numbers follow)")
    for k, v in summary.items():
        if k in ("preset", "status"):
            continue
        if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)):
            lines.append(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
        elif isinstance(v, dict) and v and all(isinstance(x, (int, float)) or x is None for x in v.values()):
            lines.append(f"  {k}: " + ", ".join(f"{a}={x:.4g}" if isinstance(x, float) else f"{a}={x}"
                                               for a, x in v.items()))
    return lines


def show_sweep(path: Path, as_json: bool) -> int:
    from .framework.sweeps.dataset import point_status
    from .framework.rundir import RunDir
    from .framework.sweeps.store import SweepStore
    from .framework.sweeps.spec import load_sweep

    store = SweepStore(path)
    sw = load_sweep(store.read_spec())
    rows = point_status(sw, store)
    if as_json:
        print(json.dumps({"summary": RunDir(path).read_json("summary.json"), "points": rows}, indent=2, default=str))
        return 0
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "pending")}
    print(f"sweep: {path.name}   preset: {sw.preset.name}   points: {len(rows)}   "
          + "   ".join(f"{k}: {v}" for k, v in counts.items()))
    print(f"axes: {', '.join(sw.axes) or '-'}   batched in each point: {', '.join(sw.batched) or '-'}")
    for r in rows:
        if r["status"] == "failed":
            where = ", ".join(f"{a}={r[a]}" for a in sw.axes)
            print(f"  failed: {where or 'the single point'} [{r['key']}]: {r['error']}")
    if counts["failed"]:
        print("rerun the failed points with: mflab run <sweep.toml> --out <this dir> --retry-failed "
              "(tracebacks in failed/<key>.json)")
    return 0


def _floats(text: str, field: str) -> list[float]:
    """Comma-separated finite numbers of a command-line option (``--amplitudes 1,0.6,0.3``)."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(field, f"cannot read numbers from '{text[:60]}'", "write comma-separated numbers, e.g. 1,0.6,0.3") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ConfigError(field, f"needs finite numbers, got '{text[:60]}'", "write comma-separated numbers, e.g. 1,0.6,0.3")
    return values


def cmd_cell(args) -> int:
    """The learning cell (w*, D*_orb, S*) of an activation, initialisation and target, as JSON."""
    from .analysis.learning_cell import learning_cell
    from .dynamics.mean_field_langevin import ParticleInit
    from .tasks.registry import build_task

    amps = _floats(args.amplitudes, "--amplitudes")
    init = ParticleInit(args.init, args.init_scale, args.dof).validate("init")
    degrees = [int(k) for k in _floats(args.degrees, "--degrees")] if args.degrees else []
    target = build_task(args.target, ("teacher", "hermite"), "target", d=args.d, amplitudes=amps,
                        activation=args.activation, degrees=degrees)
    flags = {"lam": "--lam", "tau": "--tau", "orbit_restarts": "--orbit-restarts", "D_max": "--d-max", "rho": "--rho"}
    try:
        cell = learning_cell(args.activation, args.rho, init, target, args.lam, args.tau,
                             orbit_restarts=args.orbit_restarts, D_max=args.d_max,
                             log=lambda m: print(m, file=sys.stderr, flush=True))
    except ConfigError as e:  # the library names its argument; the command line names its flag
        flag = flags.get(e.field, e.field)
        raise ConfigError(flag, e.problem, (e.fix or "").replace(f"{e.field} =", flag) or None) from None
    def finite(v):  # strict JSON: infinities as strings
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, list):
            return [finite(x) for x in v]
        return v

    print(json.dumps(finite(cell), indent=2, ensure_ascii=False))
    return 0


def cmd_config(args) -> int:
    """The resolved configuration of a preset (with --quick and --set applied) as TOML: a template for a
    config file that ``mflab run FILE.toml`` runs."""
    import tomli_w

    from .framework.config import to_dict

    _, cfg = build_config(args.preset, args.quick, args.set or [])
    sys.stdout.write(tomli_w.dumps(to_dict(cfg)))
    return 0


def _version() -> str:
    import jax

    from . import __version__

    return f"mflab {__version__} (jax {jax.__version__}, python {sys.version.split()[0]})"


class _VersionAction(argparse.Action):
    """--version, resolved only when asked (importing JAX takes a second)."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, help="print the version of mflab, JAX and Python, and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def make_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mflab", description="Feature learning in wide and deep networks: "
                                 "simulation and theory on one plot.")
    ap.add_argument("--version", action=_VersionAction)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a preset or a config.toml")
    r.add_argument("target", help="preset name (see `mflab presets`) or a config .toml file")
    r.add_argument("--quick", action="store_true", help="small built-in setting that runs in minutes on a CPU")
    r.add_argument("--out", help="run directory (default runs/<preset>[-quick]); rerunning resumes")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field, e.g. --set sgld.steps=2000")
    r.add_argument("--force", action="store_true", help="overwrite a run directory that holds another configuration")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--executor", default="local", help="sweeps: local (this process) or dask")
    r.add_argument("--scheduler", help="sweeps: Dask scheduler address (default: start a local cluster)")
    r.add_argument("--workers", type=int, help="sweeps: worker processes of the local Dask cluster")
    r.add_argument("--retry-failed", action="store_true", help="sweeps: rerun points that failed before")
    r.set_defaults(fn=cmd_run)
    k = sub.add_parser("config", help="print a preset's resolved configuration as TOML (a template for a config file)")
    k.add_argument("preset", help="preset name (see `mflab presets`)")
    k.add_argument("--quick", action="store_true", help="the preset's quick setting")
    k.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field, e.g. --set seeds=4")
    k.set_defaults(fn=cmd_config)
    p = sub.add_parser("presets", help="list built-in experiments")
    p.set_defaults(fn=cmd_presets)
    s = sub.add_parser("show", help="summarise a run directory")
    s.add_argument("dir")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(fn=cmd_show)
    c = sub.add_parser("cell", help="the learning cell (w*, D*_orb, S*) of an activation, init and target (JSON)")
    c.add_argument("--activation", default="relu")
    c.add_argument("--rho", default="gaussian", help="input law (only gaussian: the closed forms assume it)")
    c.add_argument("--init", default="gaussian", help="gaussian, laplace or student-t")
    c.add_argument("--init-scale", type=float, default=1.0)
    c.add_argument("--dof", type=float, default=3.0, help="Student-t degrees of freedom")
    c.add_argument("--target", default="teacher", help="teacher (b_j σ(e_j·x)) or hermite (b_j h_{k_j}(e_j·x))")
    c.add_argument("--amplitudes", default="1,0.6,0.3", help="b_j, comma-separated")
    c.add_argument("--degrees", help="hermite target: k_j, comma-separated")
    c.add_argument("--d", type=int, default=4, help="input dimension")
    c.add_argument("--lam", type=float, default=0.1, help="weight decay λ")
    c.add_argument("--tau", type=float, default=0.0, help="temperature τ (S* is its τ → 0 limit)")
    c.add_argument("--orbit-restarts", type=int, default=4, help="random starts per depth of the collision search")
    c.add_argument("--d-max", type=int, default=5, help="largest moment depth searched")
    c.set_defaults(fn=cmd_cell)
    return ap


OUT_OF_MEMORY = ("mflab: error: out of memory; fix: a smaller width, sample size, grid or chain count "
                 "(nothing written so far is lost: rerun resumes)")
MESSAGE_LIMIT = 400  # characters of an error line: a pasted array must not make a 100 KB message


def one_line(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """An error message as one line of at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[:limit - 4] + " ..."


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    import os

    import matplotlib

    matplotlib.use("Agg")  # the command line never opens windows; the library leaves the backend alone
    try:
        rc = args.fn(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return rc
    except MflabError as e:
        print(f"mflab: error: {one_line(e)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(OUT_OF_MEMORY, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mflab: interrupted; finished chunks are checkpointed -- rerun the same command to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mflab presets | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug, not bad input: one line, and the traceback on request
        if os.environ.get("MFLAB_TRACEBACK"):
            raise
        if "RESOURCE_EXHAUSTED" in str(e) or "Out of memory" in str(e):  # XLA's allocator
            print(OUT_OF_MEMORY, file=sys.stderr)
            return 2
        print(f"mflab: internal error: {one_line(f'{type(e).__name__}: {e}', 300)} -- this is a bug in mflab; "
              "rerun with MFLAB_TRACEBACK=1 for the traceback and report it (nothing written so far is lost)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
