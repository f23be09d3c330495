#!/usr/bin/env bash
# Reproduces this entry from a crysbench checkout (code: baselines/shelxd/).
set -euo pipefail
crysbench build --variant const-res --out const-res.zarr
python -m baselines.shelxd solve --store const-res.zarr --split test --out sx-const-res --trials 400 --time-limit 60
crysbench submit sx-const-res --store const-res.zarr --name shelxd-dualspace --meta meta.json --origin-search --hand-search --files run.sh trials.csv
