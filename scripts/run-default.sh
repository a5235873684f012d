#!/bin/sh
# What `make run` runs: the quick study (studies/quick.ini) on the embedded
# synthetic bios world, end to end, then its main table and findings. Re-running
# resumes: finished segments are skipped, so a second `make run` only rewrites
# the report. Delete runs/quick to start over.
set -eu
out=runs/quick
./plateau study run studies/quick.ini --out "$out"
echo
# The regime, the main table (from "## Results" up to the SFT sweep), what SFT changes per base
# model, and the findings.
sed -n '/^Regime/,/^- peak LR/p' "$out/report.md"
echo
sed -n '/^## Results/,/^## SFT learning-rate sweep/p' "$out/report.md" | sed '$d'
sed -n '/^## What SFT changes per base model/,/^## Findings/p' "$out/report.md" | sed '$d'
sed -n '/^## Findings/,/^## Plots/p' "$out/report.md" | sed '$d'
echo "report: $out/report.md (plots and CSV tables beside it)"
