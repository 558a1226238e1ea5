#!/usr/bin/env bash
# Regenerates the shipped sample exactly (same seeds, same content):
#   bash data_samples/regenerate.sh [OUT]      (default OUT: data_samples)
# tests/test_data_samples.py runs it into a temporary folder and compares every file's content
# digest with the shipped one.
set -euo pipefail
OUT=${1:-data_samples}
# physics runs: 2016 (paper 002 era: 80 GeV trigger, 6x6 ECAL, 4 HCAL modules) and 2022
na64 -q simulate --period 2016 --eot 5e7 --seed 2016 --out "$OUT"
na64 -q simulate --period 2022 --eot 3e7 --seed 2022 --out "$OUT"
# calibration runs of both periods: ECAL cell scan, HCAL muon run, random (pedestal) triggers
for period in 2016 2022; do
  na64 -q simulate --period "$period" --calibration ecal-scan --events 1080 --seed 1 --out "$OUT"
  na64 -q simulate --period "$period" --calibration muon --events 1200 --seed 1 --out "$OUT"
  na64 -q simulate --period "$period" --calibration random --events 500 --seed 1 --out "$OUT"
done
# signal samples (only triggered events are written; events_generated is in the metadata)
na64 -q simulate --period 2016 --signal aprime --mass 0.02 --events 600 --seed 1 --out "$OUT"
na64 -q simulate --period 2016 --signal aprime --mass 0.1 --events 600 --seed 1 --out "$OUT"
na64 -q simulate --period 2016 --signal phi --mass 0.3 --events 600 --seed 1 --out "$OUT"
