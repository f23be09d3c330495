#!/usr/bin/env bash
# Hand step + submission of one test-split run: finish.sh VARIANT VERSION
set -euo pipefail
cd /work/wt17s
v=$1; n=$2; d=runs/test/sxh-$v-$n
[ -d $d ] || mv runs/test/sxh-$v@$n $d
echo "== hand $v@$n $(date -u)"
nice -n 10 .venv/bin/python -m baselines.shelxd hand --store runs/$v@$n.zarr --split test --out $d
mkdir -p runs/test/files-$v-$n
cp leaderboards/$v/$n/shelxd-dualspace/run.sh leaderboards/$v/$n/shelxd-dualspace/meta.json runs/test/files-$v-$n/
echo "== submit $v@$n $(date -u)"
nice -n 10 .venv/bin/crysbench submit $d --store runs/$v@$n.zarr --name shelxd-dualspace \
    --meta runs/test/files-$v-$n/meta.json --origin-search --hand-search --overwrite \
    --files runs/test/files-$v-$n/run.sh $d/trials.csv $d/hand.csv
echo "== done $v@$n $(date -u)"
