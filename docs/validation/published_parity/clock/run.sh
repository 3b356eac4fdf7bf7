#!/bin/bash
# constant-η SGLD (η = 1) at the published P above 2133, on the learning curve's training sets and starts: the
# diffusion's clock for the published protocol's end (scripts/published_protocol_progress.py --clock)
cd /work/main && . /work/venv/bin/activate
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" MPLBACKEND=Agg
C=docs/validation/published_parity/clock
R="mflab run sgld-parity --no-progress --set task.n_test=20000 --set sgld.replicas=3 --set sgld.schedule=constant --set sgld.log_every=100 --set sgld.chunk_steps=2000 --set sgld.sampler=sgld --set sgld.lr=1 --set sgld.steps=6000 --set theory=false"
for P in 3666 10000; do $R --out $C/sgld-lr1-P$P --set "task.n_train=[$P]"; done
# the rest of the published grid (2026-12-07, later the same session): P = 10, 100, 500 with 10-step logs (their
# rule, train 0-1 error <= 0.01, holds within tens of steps), and P = 5000 and 7500
$R --out $C/sgld-lr1-P10-500 --set "task.n_train=[10,100,500]" --set sgld.steps=2000 --set sgld.log_every=10 --set sgld.chunk_steps=1000
for P in 5000 7500; do $R --out $C/sgld-lr1-P$P --set "task.n_train=[$P]"; done
# P = 10, 100, 500 again to τ = 4,100, past the protocol's end (2026-12-07, fourth session): the same chains (their
# first 2,000 steps are bit-identical to sgld-lr1-P10-500), so the protocol's end can be read at P <= 500 too
$R --out $C/sgld-lr1-P10-500-tau4100 --set "task.n_train=[10,100,500]" --set sgld.steps=4100 --set sgld.log_every=10 --set sgld.chunk_steps=1000
# the clock's own step bias (2026-12-07, sixth session): the same chains at P = 750, 1000, 2133 (the training sets
# and starts of equilibration/d35-P750-1000-2133-readout-gibbs/sgld-lr1, η = 1) at η = 0.5 and 0.25, to τ = 4,100
# with a log every Δτ = 10: does the protocol (η ≈ 10⁻³) sit where η → 0 extrapolates at equal τ?
$R --out $C/sgld-lr0.5-P750-2133 --set "task.n_train=[750,1000,2133]" --set sgld.lr=0.5 --set sgld.steps=8200 --set sgld.log_every=20
$R --out $C/sgld-lr0.25-P750-2133 --set "task.n_train=[750,1000,2133]" --set sgld.lr=0.25 --set sgld.steps=16400 --set sgld.log_every=40
