"""NNGP-KRR on paper B's parity learning curve under two ridge conventions: the cause of the KRR disagreement.

mflab's infinite-width posterior mean is KRR with the ridge λ = κ²P on the Gram matrix of the NNGP kernel
(paper B §2.5, the T = 2κ² posterior on MSE(mean); ``mflab.theory.krr``). The authors' baseline script
(``2608_NNGP.py``, §2.5 of the notes) solves (K' + κ² I) α = y with a kernel K' that omits the 1/d of the
first layer's prior (K' = d·K for σ_w = 1), which is KRR with the ridge κ²/d on mflab's kernel: at κ = 5·10⁻³,
d = 35, P = 10⁴ that is 7·10⁻⁷ against 0.25, almost ridgeless. This script computes the KRR mean under both
on the same parity training sets (d = 35, k = 4, ReLU, σ = 1, the first P points of each seed's draw) and puts
m_S and the test MSE of the mean beside the published NNGP series (§4.1).

``--eval-set authors`` scores the mean as the authors' script does: its evaluation set (50,000 points) and every
training set are drawn from one generator with the same seed, so the evaluation set's first P points *are* the
training set. Its metrics are then, exactly,

    metric = (P · metric(train) + (n_eval − P) · metric(fresh)) / n_eval,

with the training points' part computed on the training set and the fresh part estimated on ``--n-test`` fresh
points. Near-ridgeless KRR interpolates (f = y on the training set), so this adds ≈ P/n_eval to m_S and scales
the test MSE by ≈ 1 − P/n_eval: 0.2 and 0.8 at P = 10⁴.

Solved in float64 by Cholesky (scipy), the kernel from ``mflab.theory.kernels.nngp_kernel``. A degree-4 Walsh
mode has kernel eigenvalue c₄·4!/d⁴ ≈ 10⁻⁷ (c₄ = 1/(48π) for ReLU), so its Gram eigenvalue at P = 10⁴ is
≈ 10⁻³: far below κ²P, far above κ²/d.

    python scripts/krr_ridge_convention.py [--P 500,1000,2133,10000] [--seeds 3] [--n-test 20000] [--eval-set authors]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from published_parity_report import PUBLISHED as _PAPER  # noqa: E402

# paper B §4.1, the NNGP-KRR series (mean of 3 seeds): m_S and the plain test MSE (one table of published numbers)
PUBLISHED = {"m": _PAPER["krr_m"], "mse": _PAPER["krr_mse"]}
RIDGES = {"mflab: κ²P": lambda kappa, P, d: kappa**2 * P, "authors' script: κ²/d": lambda kappa, P, d: kappa**2 / d,
          "κ²": lambda kappa, P, d: kappa**2, "ridgeless: 10⁻⁹": lambda kappa, P, d: 1e-9}
DEFAULT = ("mflab: κ²P", "authors' script: κ²/d")


def krr_mean(K_train, K_cross, y, ridge):
    """The KRR mean K (K_train + ridge I)⁻¹ y on the test points (K = K_cross) and on the training points
    (K = K_train), by a float64 Cholesky."""
    from scipy.linalg import cho_factor, cho_solve

    alpha = cho_solve(cho_factor(K_train + ridge * np.eye(len(y)), lower=True), y)
    return K_cross @ alpha, K_train @ alpha


def scores(f_test, y_test, f_train, y_train, eval_set: str, n_eval: int) -> dict:
    """m_S = mean(f χ_S) and the plain MSE of the mean (the target is χ_S itself). ``eval_set="fresh"``: on the
    fresh test points; ``"authors"``: on an evaluation set of ``n_eval`` points whose first P are the training
    points (module docstring), the fresh part estimated on the test points."""
    fresh = {"m": np.mean(f_test * y_test), "mse": np.mean((f_test - y_test) ** 2)}
    if eval_set == "fresh":
        return {k: float(v) for k, v in fresh.items()}
    P = len(y_train)
    seen = {"m": np.mean(f_train * y_train), "mse": np.mean((f_train - y_train) ** 2)}
    return {k: float((P * seen[k] + (n_eval - P) * fresh[k]) / n_eval) for k in fresh}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--P", default="10,100,500,750,1000,2133,3666,5000,7500,10000")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-test", type=int, default=20000)
    ap.add_argument("--kappa", type=float, default=5e-3)
    ap.add_argument("--out", default="docs/validation/published_parity/krr_ridge")
    ap.add_argument("--all-ridges", action="store_true", help="also κ² and 10⁻⁹ (is κ²/d already ridgeless?)")
    ap.add_argument("--kernel", default="nngp", choices=("nngp", "ntk"),
                    help="ntk: the infinite-width NTK in place of the NNGP kernel (is the published baseline the NTK?)")
    ap.add_argument("--eval-set", default="fresh", choices=("fresh", "authors"),
                    help="authors: score on n_eval points whose first P are the training set, as 2608_NNGP.py does")
    ap.add_argument("--n-eval", type=int, default=50_000, help="the authors' evaluation-set size (--eval-set authors)")
    args = ap.parse_args()
    args.command = " ".join(["python", *sys.argv])
    import jax

    jax.config.update("jax_enable_x64", True)
    from mflab.networks import TwoLayer
    from mflab.tasks.base import make_dataset
    from mflab.tasks.parity import SparseParity
    from mflab.theory.kernels import nngp_kernel, ntk_kernel

    Ps = sorted(int(p) for p in args.P.split(","))
    if args.eval_set == "authors" and Ps[-1] > args.n_eval:
        ap.error(f"--n-eval {args.n_eval} is smaller than P = {Ps[-1]}: the authors' evaluation set holds the training "
                 f"set; give --n-eval ≥ {Ps[-1]}")
    d, k = 35, 4
    net, task = TwoLayer.create(512, "relu", "ntk"), SparseParity(d=d, k=k)
    ridges = {n: r for n, r in RIDGES.items() if args.all_ridges or n in DEFAULT}
    res = {name: {P: {"m": [], "mse": []} for P in Ps} for name in ridges}
    t0 = time.perf_counter()
    kernel = ntk_kernel if args.kernel == "ntk" else nngp_kernel
    for s in range(args.seeds):
        data = make_dataset(task, jax.random.key(s), max(Ps), args.n_test)
        X, y = np.asarray(data.X_train, np.float64), np.asarray(data.y_train, np.float64)
        Xt, yt = np.asarray(data.X_test, np.float64), np.asarray(data.y_test, np.float64)
        K_all = np.asarray(kernel(net, X))
        K_cross_all = np.asarray(kernel(net, Xt, X))
        for P in Ps:
            for name, ridge in ridges.items():
                f, f_train = krr_mean(K_all[:P, :P], K_cross_all[:, :P], y[:P], ridge(args.kappa, P, d))
                for key, v in scores(f, yt, f_train, y[:P], args.eval_set, args.n_eval).items():
                    res[name][P][key].append(v)
        print(f"seed {s} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    report(res, args, time.perf_counter() - t0)


def report(res: dict, args, seconds: float, d: int = 35, k: int = 4):
    """``args.out``.md and .json from ``res`` (ridge name -> P -> {"m": [per seed], "mse": [per seed]})."""
    Ps = sorted(next(iter(res.values())))
    lines = [f"# NNGP-KRR on the κ = {args.kappa:g} parity learning curve under {len(res)} ridge conventions", "",
             f"d = {d}, k = {k}, ReLU {getattr(args, 'kernel', 'nngp').upper()} kernel (σ_a = σ_w = 1, no bias), {args.seeds} seeds, the first P points of "
             f"each seed's draw, {evaluation(args)}, float64 Cholesky; m_S and the test MSE of the KRR mean "
             f"(plain MSE), mean ± s.e. over seeds. `{getattr(args, 'command', 'python scripts/krr_ridge_convention.py')}` "
             f"({seconds:.0f} s). Published: paper B §4.1 (NNGP series).", "",
             "| P | " + " | ".join(f"m, ridge {n}" for n in res) + " | m published | "
             + " | ".join(f"MSE, {n.split(': ')[-1]}" for n in res) + " | MSE published |",
             "|---" * (2 * len(res) + 3) + "|"]
    se = lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")  # noqa: E731
    pub = lambda key, P, spec: "–" if P not in PUBLISHED[key] else format(PUBLISHED[key][P], spec)  # noqa: E731
    rows = []
    for P in Ps:
        row = {"P": P, "published_m": PUBLISHED["m"].get(P), "published_mse": PUBLISHED["mse"].get(P)}
        for n, r in res.items():
            row[n] = {key: float(np.mean(r[P][key])) for key in ("m", "mse")}
            row[n].update({f"{key}_se": se(r[P][key]) for key in ("m", "mse")})
        rows.append(row)
        lines.append(f"| {P} | " + " | ".join(f"{row[n]['m']:.3f}" + (f" ± {row[n]['m_se']:.3f}" if np.isfinite(row[n]["m_se"]) else "")
                                             for n in res)
                     + f" | {pub('m', P, '.3f')} | " + " | ".join(f"{row[n]['mse']:.3f}" for n in res)
                     + f" | {pub('mse', P, '.2f')} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"kappa": args.kappa, "seeds": args.seeds, "n_test": args.n_test,
                                                    "eval_set": getattr(args, "eval_set", "fresh"),
                                                    "n_eval": getattr(args, "n_eval", None),
                                                    "rows": rows, "per_seed": {n: {str(P): v for P, v in r.items()}
                                                                               for n, r in res.items()}}, indent=1))
    print("\n".join(lines))


def evaluation(args) -> str:
    """How the record's metrics were scored, in words."""
    if getattr(args, "eval_set", "fresh") == "fresh":
        return f"{args.n_test:,} fresh test points"
    return (f"scored as the authors' script does, on {args.n_eval:,} points whose first P are the training set "
            f"(the rest estimated on {args.n_test:,} fresh points)")


if __name__ == "__main__":
    main()
