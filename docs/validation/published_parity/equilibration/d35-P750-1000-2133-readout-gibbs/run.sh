#!/bin/sh
# Issue 16, 2026-12-06: the readout draw side by side with SGLD and the kinetic sampler (one core each:
# XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" taskset -c 0 ...).
S=sgld:1:30000,kinetic:0.03:2000:8:1,kinetic:0.03:2000:16:1,kinetic:0.03:2000:1:1:10,kinetic:0.03:2000:4:1:10,kinetic:0.03:2000:8:1:10,kinetic:0.03:2000:8:1:5,kinetic:0.03:30000
python benchmarks/posterior_sampler_equilibration.py --P 750,1000,2133 --log-every 10 --chunk-steps 2000 \
  --samplers $S --reference kinetic:0.03 --out runs/eq/gibbs --report equilibration
python benchmarks/posterior_sampler_equilibration.py --P 750,1000,2133 --log-every 10 --chunk-steps 2000 \
  --samplers $S --reference best-fit --out runs/eq/gibbs --report equilibration-best-fit
# step cost without logging, 3 repeats:
python benchmarks/sgld_parity_throughput.py --repeats 3 --steps 2000 --gibbs-every 10
# 2026-12-07: the draw's period, 20, 30 and 50 steps (the same training sets and starts; run on their own, then the
# tables of every run read with --no-run: the committed SGLD and plain-kinetic traces are thinned past step 3,000,
# which moves SGLD's P = 2133 arrival from 3,440 (full trace, tables above) to 2,810 in these tables)
python benchmarks/posterior_sampler_equilibration.py --P 750,1000,2133 --log-every 10 --chunk-steps 2000 \
  --samplers kinetic:0.03:2000:8:1:20,kinetic:0.03:2000:8:1:30,kinetic:0.03:2000:8:1:50 --out runs/eq/gibbs --report new
P=sgld:1:30000,kinetic:0.03:2000:8:1,kinetic:0.03:2000:8:1:10,kinetic:0.03:2000:8:1:20,kinetic:0.03:2000:8:1:30,kinetic:0.03:2000:8:1:50,kinetic:0.03:30000
python benchmarks/posterior_sampler_equilibration.py --P 750,1000,2133 --samplers $P --reference kinetic:0.03 \
  --out docs/validation/published_parity/equilibration/d35-P750-1000-2133-readout-gibbs --no-run --report equilibration-period
# step cost of the draw every 20 and 30 steps, 3 repeats:
python benchmarks/sgld_parity_throughput.py --repeats 3 --steps 2000 --gibbs-every 30
python benchmarks/sgld_parity_throughput.py --repeats 3 --steps 2000 --gibbs-every 20
