#!/usr/bin/env bash
# Reproduces a trivial-baseline board entry from a crysbench checkout (code: baselines/trivial/).
#   bash baselines/trivial/run.sh VARIANT KIND     e.g.  bash baselines/trivial/run.sh const-res blob
# VARIANT: dipeptide | const-res | var-res, optionally @VERSION (e.g. const-res@1);
#   KIND: zero | patterson | blob | chain
set -euo pipefail
variant=${1:?variant}; kind=${2:?kind}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=${WORK:-runs/trivial}
mkdir -p "$work"
[ -d "$work/$variant.zarr" ] || crysbench build --variant "$variant" --out "$work/$variant.zarr" --quiet
python -m baselines.trivial "$kind" --store "$work/$variant.zarr" --split test --out "$work/$variant-$kind"
crysbench submit "$work/$variant-$kind" --store "$work/$variant.zarr" --name "trivial-$kind" \
    --meta "$here/meta/$kind.json" --files "$here/run.sh" \
    --quiet ${OVERWRITE:+--overwrite}
