#!/usr/bin/env bash
# Test-split solves of the final configuration (issue 17): solve --no-hand, then the hand step later.
set -u
cd /work/wt17s
for v in "$@"; do
  echo "== $v start $(date -u)"
  /usr/bin/time -v nice -n 10 .venv/bin/python -m baselines.shelxd solve --store runs/$v.zarr --split test \
      --out runs/test/sxh-$v --trials 96 --no-hand
  echo "== $v end $(date -u)"
done
