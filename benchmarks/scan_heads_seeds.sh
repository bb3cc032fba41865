#!/bin/bash
# SCAN's step on digits with one head and with ten (lowest-loss selection), seeds 0-2, two and one torch
# threads; each (threads, seed) pretext is computed once and shared by both head counts through the stage
# cache. Prints one line per run; benchmarks/results/scan_heads_seeds.md holds a run of it.
#     bash benchmarks/scan_heads_seeds.sh /tmp/scan-heads
set -u
out=${1:-/tmp/scan-heads}
heads10="--set scan.representation.params.heads=10 --set scan.assignment=scan.lowest_loss_head
         --set scan.assignment.params.k=20 --set scan.losses.scan.params.output=head_probs"
heads1="--set scan.representation.params.heads=1 --set scan.assignment=core.argmax
        --set scan.losses.scan.params.output=probs"
for threads in 2 1; do
  for seed in 0 1 2; do
    for heads in 1 10; do
      if [ "$heads" = 10 ]; then sets=$heads10; else sets=$heads1; fi
      result=$(CLUST_CACHE_DIR="$out/cache-t$threads-s$seed" OMP_NUM_THREADS=$threads \
               .venv/bin/clust run --plugin scan --recipe scan-loss --seed "$seed" --set report=false \
               --out "$out/runs" $sets 2>/dev/null | grep '^ACC')
      echo "threads=$threads seed=$seed heads=$heads $result"
    done
  done
done
