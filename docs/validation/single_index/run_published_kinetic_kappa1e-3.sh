#!/bin/bash
# The network of the published single-index setting (hermite-index preset, non-quick: d = 18, k = 2, N = 1024,
# the authors' SGLD prior g_w = 0.5 with hidden and output biases, unnormalised He_4, their step schedule
# η 1e-2 -> 5e-4 and stopping rule, the final weights as the sample, 4 seeds) at κ = 1e-3, P in {1000, 5000, 10^4},
# sampled by the kinetic (BAOAB) sampler instead of SGLD, for 5·10^4 steps. Why: in 2·10^4 SGLD steps (0.5 % of
# the authors' budget) the network had not learned (m <= 0.14, published_kappa1e-3/). BAOAB at the same η moves
# h = √(2η) ≈ 0.14 per step instead of η = 0.01, so 5·10^4 kinetic steps cover about 35× the Langevin time of
# those 2·10^4 SGLD steps. The MF-ARD and KRR columns of published_kappa1e-3/ are on the same data (same seed and
# preset): each P runs in its own directory, as there, because a replica's training set is the first P points of
# its draw of the run's largest P. Each command resumes.
set -e
OUT=${OUT:-runs/single-index-published-kinetic}
common=(--no-progress --set 'sgld.kappa=[1e-3]' --set main_kappa=1e-3 --set 'methods=["sgld"]'
        --set sgld.sampler=kinetic --set sgld.steps=50000 --set sgld.log_every=2500 --set sgld.chunk_steps=5000)
for P in 1000 5000 10000; do
  mflab run hermite-index --out "$OUT/P$P" "${common[@]}" --set "task.n_train=[$P]"
done
