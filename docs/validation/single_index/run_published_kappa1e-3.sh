#!/bin/bash
# The part of the published single-index setting (hermite-index preset, non-quick: d = 18, k = 2, N = 1024,
# the authors' two priors, unnormalised He_4, SGLD with their schedule and stopping rule, MF-ARD with B = 1024,
# NNGP-KRR) that a 2-core CPU allows in one session: κ = 1e-3 only, P up to 10^4, 4 seeds, and budgets cut from
# the authors' 4·10^6 SGLD steps to 2·10^4 (MF-ARD: 10^3 outer iterations). The P grid runs in three groups
# (separate run directories), because a run pads every chain to its largest P. Each command resumes.
set -e
OUT=${OUT:-runs/single-index-published}
common=(--no-progress --set 'sgld.kappa=[1e-3]' --set main_kappa=1e-3 --set sgld.steps=20000
        --set sgld.log_every=2000 --set sgld.chunk_steps=10000 --set mf.iterations=1000 --set mf.chunk_iterations=100)
mflab run hermite-index --out "$OUT/P50-1000" "${common[@]}" --set 'task.n_train=[50,100,1000]'
mflab run hermite-index --out "$OUT/P5000" "${common[@]}" --set 'task.n_train=[5000]'
mflab run hermite-index --out "$OUT/P10000" "${common[@]}" --set 'task.n_train=[10000]'
