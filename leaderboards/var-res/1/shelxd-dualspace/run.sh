#!/usr/bin/env bash
# Reproduces this entry from a crysbench checkout (code: baselines/shelxd/).
set -euo pipefail
crysbench build --variant var-res --out var-res.zarr
python -m baselines.shelxd solve --store var-res.zarr --split test --out sx-var-res --trials 400 --time-limit 60
crysbench submit sx-var-res --store var-res.zarr --name shelxd-dualspace --meta meta.json --origin-search --hand-search --files run.sh trials.csv
