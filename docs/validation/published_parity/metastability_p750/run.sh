#!/bin/bash
# P = 750 metastability under the plain and the preconditioned kinetic sampler (issue 16); one core
cd /work/main && . /work/venv/bin/activate
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" MPLBACKEND=Agg
M=docs/validation/published_parity/metastability_p750
R="taskset -c 0 mflab run sgld-parity --no-progress --set task.n_test=20000 --set sgld.replicas=3 --set sgld.schedule=constant --set sgld.log_every=250 --set sgld.chunk_steps=20000 --set theory=false --set task.n_train=[750] --set sgld.sampler=kinetic --set sgld.lr=0.03 --set sgld.steps=20000"
$R --out $M/plain-prior
$R --out $M/M4-prior --set sgld.preconditioner.first_layer=4
$R --out $M/plain-from-M4 --set sgld.init_from=$M/M4-prior
$R --out $M/M4-from-plain --set sgld.preconditioner.first_layer=4 --set sgld.init_from=$M/plain-prior
