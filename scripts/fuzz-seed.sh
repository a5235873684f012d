#!/bin/sh
# Seeds fuzz/corpus/<harness>/ with files plateau itself writes: a small bios
# world (chat JSONL, task JSONL), a tokenizer trained on it, a token shard,
# the study files in studies/, and a checkpoint of the fuzz model (weights,
# train_state.bin, lineage.json, config.json, checksums.json). Run from the
# repository root after `make` (needs gzip and zstd); existing corpus files
# are kept.
set -eu
make --no-print-directory plateau build/fuzz/seed >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
c=fuzz/corpus
mkdir -p $c/safetensors $c/checkpoint $c/tokenizer $c/shard $c/chat $c/task $c/study

./plateau data bios --out "$tmp/w" --people 12 --bios-per-person 1 >/dev/null
head -n 3 "$tmp/w/sft_train.jsonl" > $c/chat/seed-sft_train.jsonl
# compressed: a selector byte (1 gzip, 2 zstd; fuzz_chat.c), then the file
{ printf '\001'; gzip -c $c/chat/seed-sft_train.jsonl; } > $c/chat/seed-sft_train.jsonl.gz
{ printf '\002'; zstd -q -c $c/chat/seed-sft_train.jsonl; } > $c/chat/seed-sft_train.jsonl.zst
for f in eval_mc_test eval_qa_test; do head -n 3 "$tmp/w/$f.jsonl" > "$c/task/seed-$f.jsonl"; done

./plateau tokenizer train --vocab 300 --out "$tmp/tok.json" "$tmp/w/pretrain.txt" >/dev/null
cp "$tmp/tok.json" $c/tokenizer/seed-tokenizer.json

head -c 2000 "$tmp/w/pretrain.txt" > "$tmp/short.txt"
./plateau data tokenize --tokenizer "$tmp/tok.json" --out "$tmp/shards" "$tmp/short.txt" >/dev/null
cp "$tmp/shards/short_000000.bin" $c/shard/seed-short.bin

for f in studies/*.ini; do cp "$f" "$c/study/seed-$(basename "$f")"; done

build/fuzz/seed $c
ls $c/* | head -n 40
