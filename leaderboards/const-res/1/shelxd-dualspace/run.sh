#!/usr/bin/env bash
# Reproduces this entry from a crysbench checkout (code: baselines/shelxd/); run it in this folder.
set -euo pipefail
crysbench build --variant const-res --out const-res.zarr
python -m baselines.shelxd solve --store const-res.zarr --split test --out sxh-const-res --trials 64
crysbench submit sxh-const-res --store const-res.zarr --name shelxd-dualspace --meta meta.json --origin-search --hand-search --overwrite --files run.sh sxh-const-res/trials.csv
