#!/bin/bash
# constant-η SGLD (η = 1) at the published P above 2133, on the learning curve's training sets and starts: the
# diffusion's clock for the published protocol's end (scripts/published_protocol_progress.py --clock)
cd /work/main && . /work/venv/bin/activate
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" MPLBACKEND=Agg
C=docs/validation/published_parity/clock
R="mflab run sgld-parity --no-progress --set task.n_test=20000 --set sgld.replicas=3 --set sgld.schedule=constant --set sgld.log_every=100 --set sgld.chunk_steps=2000 --set sgld.sampler=sgld --set sgld.lr=1 --set sgld.steps=6000 --set theory=false"
for P in 3666 10000; do $R --out $C/sgld-lr1-P$P --set "task.n_train=[$P]"; done
