#!/usr/bin/env bash
# Reproduces this entry from a crysbench checkout (code: baselines/shelxd/); run it in this folder.
set -euo pipefail
crysbench build --variant var-res --out var-res.zarr
python -m baselines.shelxd solve --store var-res.zarr --split test --out sx64-var-res --trials 64
crysbench submit sx64-var-res --store var-res.zarr --name shelxd-dualspace --meta meta.json --origin-search --hand-search --overwrite --files run.sh sx64-var-res/trials.csv
