#!/usr/bin/env bash
# The main job on a fresh machine: set up, then compile the model zoo (tables, JSON, folded views)
# and draw diagrams of it; train LeNet-5 on the bundled digits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

cnnc=.venv/bin/cnnc
mkdir -p out
echo "== cnnc compile specs/vgg16.yaml"
$cnnc compile specs/vgg16.yaml
echo
echo "== cnnc compile specs/resnet50.yaml --depth 1 --batch 32"
$cnnc compile specs/resnet50.yaml --depth 1 --batch 32
echo
echo "== every spec in specs/ (JSON reports in out/)"
for spec in specs/*.yaml; do
    name=$(basename "$spec" .yaml)
    $cnnc compile "$spec" --format json > "out/$name.json"
    .venv/bin/python - "out/$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["totals"]
print(f"  {d['name']:<16} {len(d['layers']):>4} layers  {t['trainable_params']:>12,} trainable  "
      f"{t['non_trainable_params']:>7,} non-trainable  {t['macs'] / 1e6:>10.1f} M MACs")
PY
done
echo
echo "== diagrams (out/*.svg)"
$cnnc draw specs/googlenet.yaml -o out/googlenet.svg --rankdir LR --detail shapes
$cnnc draw specs/resnet152.yaml -o out/resnet152_collapsed.svg --collapse --detail shapes
$cnnc draw specs/lenet5.yaml -o out/lenet5.png --detail full
echo
echo "== train LeNet-5 on the bundled digits, then run the best checkpoint on the test split"
$cnnc train specs/lenet5.yaml --checkpoint out/lenet5
$cnnc infer specs/lenet5.yaml --weights out/lenet5/best.npz --data digits --split test
echo
echo "== a broken spec is reported like a compiler does (exit 1 expected)"
if $cnnc compile tests/specs/bad/many_errors.yaml; then exit 1; fi
echo "demo finished"
