#!/bin/sh
# Streams a generated 1 GB JSONL corpus (FineWeb layout, compressed with
# Zstandard) through `plateau data tokenize` and checks that memory stays
# flat: peak resident set size (GNU time's "Maximum resident set size") must
# stay under 300 MB. Prints the throughput in MB/s of JSONL text and of the
# file on disk. Not part of `make test` (about 2-3 minutes on 2 cores).
#
#   sh bench/corpus_tokenize.sh [BYTES]     (default 1G; run from anywhere after make)
# CORPUS_WORK=DIR keeps the corpus and shards there (default: a temporary folder).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
P="$root/plateau"
bytes=${1:-1G}
limit_kb=300000
[ -x /usr/bin/time ] || { echo "corpus_tokenize: needs GNU time (Debian package time)" >&2; exit 1; }
work=${CORPUS_WORK:-}
if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/plateau-corpus-XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
corpus="$work/corpus-$bytes.jsonl.zst"
# A tokenizer trained on a small sample of the same kind of text.
if [ ! -f "$work/tok.json" ]; then
    "$P" data bios --people 2000 --out "$work/world" >/dev/null
    "$P" tokenizer train --vocab 4096 --out "$work/tok.json" "$work/world/pretrain.txt" >/dev/null
fi
[ -f "$corpus" ] || "$P" data corpus --out "$corpus" --bytes "$bytes"
rm -rf "$work/shards"
echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
/usr/bin/time -v "$P" data tokenize --tokenizer "$work/tok.json" --out "$work/shards" "$corpus" \
    2>"$work/time.txt" | grep -v '^\s*$'
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt")
cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$work/time.txt")
share=$(sed -n 's/.*Percent of CPU this job got: //p' "$work/time.txt")
echo "peak resident set size ${rss} kB (limit ${limit_kb} kB), wall ${wall}, CPU ${cpu} s (${share} of one core)"
echo "machine after: $(uptime | sed 's/.*load average/load average/')"
if [ "$rss" -ge "$limit_kb" ]; then
    echo "FAIL: peak RSS ${rss} kB is not under ${limit_kb} kB" >&2
    exit 1
fi
echo "ok: memory stayed flat"
