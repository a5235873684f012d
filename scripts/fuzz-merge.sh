#!/bin/sh
# Minimises each harness's corpus (fuzz/corpus/<name>) to the inputs that
# keep its coverage, with libFuzzer's merge, so what is committed stays
# small. Inputs named found-* (faults a fuzzer found, kept with their fix)
# are always kept. Run after `make fuzz`; needs clang.
set -eu
make --no-print-directory SANITIZE=fuzzer fuzz-build >/dev/null
for f in ${*:-safetensors checkpoint tokenizer shard chat task study}; do
    dir=fuzz/corpus/$f
    tmp=$(mktemp -d)
    build/fuzzer/fuzz/fuzz_$f -merge=1 -max_len=65536 "$tmp" "$dir" 2>/dev/null
    for k in "$dir"/found-* "$dir"/seed-*; do [ -e "$k" ] && cp "$k" "$tmp/"; done
    rm -f "$dir"/*
    cp "$tmp"/* "$dir"/
    rm -rf "$tmp"
    echo "$f: $(ls "$dir" | wc -l) inputs, $(du -sk "$dir" | cut -f1) KiB"
done
