#!/bin/sh
# Issue 16, 2026-12-07: the readout draw at the small setting (d = 12, N = 128, P = 200 and 400, 4 seeds) where
# long SGLD and the kinetic sampler are cheap to equilibrate (../d12-P200-400, 200,000 steps). One core each.
python benchmarks/posterior_sampler_equilibration.py --d 12 --width 128 --P 200,400 --log-every 100 --chunk-steps 20000 --seeds 4 \
  --n-test 4096 --samplers kinetic:0.05:20000:1:1:10,kinetic:0.05:20000:4:1:10,kinetic:0.05:20000:4:1:30 --out runs/eq/small --report new
# the table beside the committed 200,000-step runs (copy ../d12-P200-400's run directories into runs/eq/small first):
python benchmarks/posterior_sampler_equilibration.py --d 12 --width 128 --P 200,400 --seeds 4 --no-run --out runs/eq/small \
  --samplers sgld:0.05,sgld:1,kinetic:0.05:20000:1:1:10,kinetic:0.05:20000:4:1:10,kinetic:0.05:20000:4:1:30,kinetic:0.05 \
  --reference kinetic:0.05 --report draw
