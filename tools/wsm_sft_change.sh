#!/bin/sh
# By hand, outside a study: does a WSM merge (constant LR, last K checkpoints
# merged) reach decay's pre-training loss without its sharpness, and what does
# SFT do to each base? One micro model per seed on the bios world, the quick
# study's recipe (280 steps of 4096 tokens, peak 2e-3, warmup 14):
#   wso           constant LR after warmup
#   wsd0          WSD to 0 (decay from step 214, 66 steps)
#   wsm-uniform   WSO's checkpoints 220..280 (K = 7, every 10) merged uniformly (= a linear decay)
#   wsm-1-sqrt    the same with WSM's 1-sqrt weights
# then SFT at 2e-4 (6 epochs) from each, and per base/SFT pair: PT validation
# loss and Tr(H); the top eigenvalue of P^-1 H (AdamW state, on a training
# batch) beside Adam's threshold at the final LR; SFT exact match on held-out
# people; forgetting and relative weight distance; the SFT-data Tr(H) of the
# fine-tuned model. Re-running skips what exists.
# usage: tools/wsm_sft_change.sh OUT_DIR SEED...   (plateau binary: ./plateau or $PLATEAU)
set -eu
P=${PLATEAU:-$(pwd)/plateau}
out=$1; shift
mkdir -p "$out" && cd "$out"
if [ ! -f w/tok.json ]; then
    $P data bios --people 200 --out w >/dev/null
    # hold out the last 5% of the pre-training documents as validation text
    awk 'BEGIN{RS="<\\|endoftext\\|>"; ORS="<|endoftext|>"} NF{d[n++]=$0} END{k=int(n/20); for(i=0;i<n-k;i++) print d[i] > "w/pt_train.txt"; for(i=n-k;i<n;i++) print d[i] > "w/pt_valid.txt"}' w/pretrain.txt
    $P tokenizer train --vocab 2048 --out w/tok.json w/pt_train.txt >/dev/null
    $P data tokenize --tokenizer w/tok.json w/pt_train.txt --out w/tr >/dev/null
    $P data tokenize --tokenizer w/tok.json w/pt_valid.txt --out w/va >/dev/null
    for s in sft_train sft_valid; do
        $P data sft --tokenizer w/tok.json --in w/$s.jsonl --out w/sft --seq-len 128 --space-replies >/dev/null
    done
fi
PT="--preset micro --vocab 2048 --tokenizer w/tok.json --data w/tr/pt_train_000000.bin --steps 280 --lr 2e-3
    --warmup 14 --seq-len 128 --micro-batch 16 --batch-tokens 4096 --quiet --log-every 280"
VA=w/va/pt_valid_000000.bin
probe() {   # probe CKPT DATA... -> one line
    $P sharpness --ckpt "$@" --seq-len 128 --batch 4 --probes 20 --quiet
}
# The top eigenvalue of P^-1 H on the loss Adam minimised: a training batch of
# the training batch's size. It falls as 1/B with the probe batch (on seed 1's
# WSO end: 166K, 68K, 34K at B = 4, 16, 32 sequences), so only equal B compare.
precond() {
    $P sharpness --ckpt "$1" --data w/tr/pt_train_000000.bin --seq-len 128 --batch 32 --probes 2 \
        --precond-eig --eig-iters 30 --eig-tol 1e-3 --quiet
}
for seed in "$@"; do
    r=r$seed
    [ -d $r/wso/step-00000280 ] || $P train $PT --schedule wso --ckpt-every 10 --seed $seed --out $r/wso
    [ -d $r/wsd0/step-00000280 ] || $P train $PT --schedule wsd --alpha 0 --seed $seed --out $r/wsd0
    k=""
    for st in 220 230 240 250 260 270 280; do k="$k $r/wso/step-00000$st"; done
    for wt in uniform 1-sqrt; do
        [ -d $r/wsm-$wt ] || $P merge $k --weights $wt --out $r/wsm-$wt
    done
    for b in wso wsd0 wsm-uniform wsm-1-sqrt; do
        base=$r/$b
        [ -d $base/step-00000280 ] && base=$base/step-00000280
        echo "== seed $seed base $b"
        probe "$base" --data $VA
        precond "$base"
        [ -d $r/sft-$b ] || $P train --stage sft --init "$base" --data w/sft/sft_train.bin --mask w/sft/sft_train.mask.bin \
            --layout rows --seq-len 128 --micro-batch 4 --batch-tokens 512 --steps 135 --lr 2e-4 --warmup 13 \
            --quiet --log-every 135 --out $r/sft-$b >/dev/null
        $P eval --ckpt $r/sft-$b --suite sft --world w --quiet | grep -i "average"
        $P sft-change --base "$base" --sft $r/sft-$b --data $VA
        probe $r/sft-$b --data w/sft/sft_valid.bin --mask w/sft/sft_valid.mask.bin --layout rows
    done
done
