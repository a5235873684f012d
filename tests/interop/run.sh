#!/bin/sh
# Interop tests: a micro model that plateau trains, exported as a Hugging Face
# folder and a GGUF file, checked by the npm clients other people use
# (versions pinned in package-lock.json, installed here by `npm ci`):
#   node-llama-cpp      llama.cpp loads the GGUF; greedy decoding of 16 prompts
#                       equals `plateau generate` token for token (log-probs too)
#   @huggingface/jinja  the exported chat_template renders 10 conversations to
#                       plateau's SFT text
#   tokenizers          the exported tokenizer.json encodes the world's texts and
#                       the rendered conversations to plateau's ids
#   @huggingface/gguf   parses the GGUF metadata and tensor table
# and the HF folder's weights through transformers' LlamaForCausalLM forward,
# restated in hf_llama.mjs (transformers is Python; this machine has no PyPI):
# greedy decoding equals plateau's there too.
# Run from anywhere after `make`; .ci/run runs it after `make test`.
# INTEROP_WORK=DIR keeps the model and files there (default: a temporary
# folder, removed afterwards).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
P="$root/plateau"
[ -x "$P" ] || { echo "interop: build plateau first (make)" >&2; exit 1; }
command -v npm >/dev/null || { echo "interop: needs node and npm (scripts/install-deps.sh installs them)" >&2; exit 1; }

work=${INTEROP_WORK:-}
if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/plateau-interop-XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

# --ignore-scripts: node-llama-cpp's prebuilt llama.cpp comes as an optional dependency;
# its postinstall step would only try to download or build another.
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)

# A micro model: pre-training on the bios world, then a short SFT stage, so
# that both plain and chat prompts have something to say.
w="$work/world"
if [ ! -f "$work/sft/checksums.json" ] && [ ! -d "$work/sft/step-00000060" ]; then
    "$P" data bios --people 200 --out "$w" >/dev/null
    "$P" tokenizer train --vocab 1024 --out "$w/tok.json" "$w/pretrain.txt" >/dev/null
    "$P" data tokenize --tokenizer "$w/tok.json" "$w/pretrain.txt" --out "$w/shards" >/dev/null
    "$P" data sft --tokenizer "$w/tok.json" --in "$w/sft_train.jsonl" --out "$w/sft" --seq-len 128 \
        --space-replies >/dev/null
    "$P" train --preset micro --vocab 1024 --tokenizer "$w/tok.json" --data "$w/shards/pretrain_000000.bin" \
        --steps 300 --lr 3e-3 --schedule wsd --alpha 0 --seq-len 128 --out "$work/pt" --quiet --log-every 100
    "$P" train --stage sft --init "$work/pt" --data "$w/sft/sft_train.bin" --mask "$w/sft/sft_train.mask.bin" \
        --layout rows --seq-len 128 --steps 60 --lr 3e-4 --out "$work/sft" --quiet --log-every 60
fi
"$P" export --format gguf "$work/sft" --out "$work/model-f32.gguf"
"$P" export --format gguf "$work/sft" --out "$work/model-bf16.gguf" --dtype bf16
"$P" export --format hf "$work/sft" --out "$work/hf"
"$P" export --format hf "$work/sft" --out "$work/hf-bf16" --dtype bf16

cd "$here"
node check.mjs --plateau "$P" --work "$work" --ckpt "$work/sft" --world "$w"
