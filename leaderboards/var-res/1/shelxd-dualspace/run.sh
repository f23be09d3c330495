#!/usr/bin/env bash
# Reproduces this entry from a crysbench checkout (code: baselines/shelxd/); run it in this folder.
set -euo pipefail
crysbench build --variant var-res --out var-res.zarr
python -m baselines.shelxd solve --store var-res.zarr --split test --out sxh-var-res --trials 64
crysbench submit sxh-var-res --store var-res.zarr --name shelxd-dualspace --meta meta.json --origin-search --hand-search --overwrite --files run.sh sxh-var-res/trials.csv
