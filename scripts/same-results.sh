#!/bin/sh
# Compares the results of two runs of one study: scripts/same-results.sh A B
# with A and B study output folders (`plateau study run FILE --out A`).
#
# Every row the runs recorded in results.sqlite (metrics, evaluations,
# sharpness, per-item results, the plan and the SFT sweep) is compared, wall-clock
# timestamps aside, for the segments done in both (so two runs can be
# compared while one is still going); when both studies are complete, also
# the SFT sweep's choices, report.md and the report's CSV files. Checkpoint
# paths are compared below their study folder (each run's --out text reads
# as DIR), so runs in two folders compare, e.g. --jobs 1 against --jobs 2.
# Same inputs, seed and OMP_NUM_THREADS must give no difference
# (DESIGN.md, principle 3). Prints what differs; exits 0 when nothing does.
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 STUDY_DIR_A STUDY_DIR_B" >&2
    exit 2
fi
a=$1
b=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

done_segments() {
    sqlite3 -readonly "$1/results.sqlite" "SELECT id FROM segments WHERE status = 'done' ORDER BY id"
}
pending_segments() {
    sqlite3 -readonly "$1/results.sqlite" "SELECT count(*) FROM segments WHERE status != 'done'"
}

done_segments "$a" > "$tmp/done_a"
done_segments "$b" > "$tmp/done_b"
comm -12 "$tmp/done_a" "$tmp/done_b" > "$tmp/done"
ids=$(sed "s/.*/'&'/" "$tmp/done" | paste -sd, -)
complete=0
if [ "$(pending_segments "$a")" -eq 0 ] && [ "$(pending_segments "$b")" -eq 0 ]; then complete=1; fi

# The rows as INSERT statements (full precision, as .dump writes them), in a fixed order.
rows() {
    db="$1/results.sqlite"
    sqlite3 -readonly "$db" ".mode insert runs" "SELECT DISTINCT study, spec_text FROM runs ORDER BY study"
    sqlite3 -readonly "$db" ".mode insert segments" "SELECT id, parent, stage, arms, seed, schedule, start_step, end_step,
        sft_lr, status, checkpoint, spec_text FROM segments WHERE id IN ($ids) ORDER BY id"
    sqlite3 -readonly "$db" ".mode insert arm_runs" "SELECT * FROM arm_runs ORDER BY study, arm, seed"
    for table in metrics evaluations sharpness items; do
        sqlite3 -readonly "$db" ".mode insert $table" "SELECT * FROM $table WHERE segment IN ($ids) ORDER BY 1, 2, 3, 4, 5"
    done
    if [ $complete -eq 1 ]; then
        sqlite3 -readonly "$db" ".mode insert sft_sweep" "SELECT * FROM sft_sweep ORDER BY study, arm, seed, sft_lr"
    fi
}
# The folder as recorded in checkpoint paths ('A/segments/...'), as DIR.
masked_rows() {
    rows "$1" | awk -v dir="'$1/segments/" '{ while ((i = index($0, dir)) > 0)
        $0 = substr($0, 1, i - 1) "'"'"'DIR/segments/" substr($0, i + length(dir)); print }'
}
masked_rows "$a" > "$tmp/rows_a"
masked_rows "$b" > "$tmp/rows_b"

status=0
echo "segments done: $(wc -l < "$tmp/done_a") in $a, $(wc -l < "$tmp/done_b") in $b, compared: $(wc -l < "$tmp/done")"
if cmp -s "$tmp/rows_a" "$tmp/rows_b"; then
    echo "results.sqlite: same ($(wc -l < "$tmp/rows_a") rows)"
else
    echo "results.sqlite: differs"
    diff "$tmp/rows_a" "$tmp/rows_b" | cut -c1-300 | head -40
    status=1
fi
if [ $complete -eq 1 ]; then
    for f in report.md main.csv per_seed.csv sft_sweep.csv sharpness.csv paper.csv; do
        if cmp -s "$a/$f" "$b/$f"; then
            echo "$f: same"
        else
            echo "$f: differs"
            diff "$a/$f" "$b/$f" | head -40 || true
            status=1
        fi
    done
else
    echo "report.md and CSV files: not compared (a study is still running)"
fi
exit $status
