#!/usr/bin/env bash
# Reproduces this entry from a crysbench checkout (code: baselines/shelxd/); run it in this folder.
# Budget: 96 trials per example, no wall-clock limit (deterministic). The hand decision runs as
# a second step on the saved maps; it gives the maps `solve` without --no-hand writes.
set -euo pipefail
crysbench build --variant const-res@2 --out const-res-2.zarr
python -m baselines.shelxd solve --store const-res-2.zarr --split test --out sxh-const-res-2 --trials 96 --no-hand
python -m baselines.shelxd hand --store const-res-2.zarr --split test --out sxh-const-res-2
crysbench submit sxh-const-res-2 --store const-res-2.zarr --name shelxd-dualspace --meta meta.json --origin-search \
    --hand-search --overwrite --files run.sh sxh-const-res-2/trials.csv sxh-const-res-2/hand.csv
