#!/bin/sh
# Two hosts on one machine: two network namespaces joined by a veth pair act
# as two machines with their own addresses and host names; OpenMPI runs one
# rank in each over its TCP transport (the way it runs across real hosts,
# started through a hostfile), and the trained weights must be bit-identical
# to the same 2-rank run on one host (the sum over ranks is in rank order,
# whatever carries the bytes).
#
# mpirun starts the remote rank's daemon through its "rsh agent"; here that is
# a small script that enters the other namespace instead of ssh-ing to
# another machine. Needs root (ip netns, unshare), mpirun and a plateau built
# with MPI. Exits 0 when the run passes, 77 (skipped, with a message) when it
# lacks any of those, 1 on a failure. Run from the repository root, or set
# PLATEAU_BIN.
set -u
BIN=${PLATEAU_BIN:-./plateau}
skip() { echo "two_hosts: skipped: $*"; exit 77; }
fail() { echo "two_hosts: FAILED: $*"; exit 1; }

[ -x "$BIN" ] || skip "$BIN not built"
command -v mpirun >/dev/null 2>&1 || skip "mpirun not found (Debian: openmpi-bin)"
command -v ip >/dev/null 2>&1 || skip "ip not found (Debian: iproute2)"
command -v unshare >/dev/null 2>&1 || skip "unshare not found (Debian: util-linux)"
ldd "$BIN" 2>/dev/null | grep -q libmpi || skip "$BIN was built without MPI"
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"

TAG=p$$
NS_A=${TAG}a NS_B=${TAG}b
ip netns add "$NS_A" 2>/dev/null || skip "cannot create network namespaces here (no CAP_SYS_ADMIN / CAP_NET_ADMIN?)"
WORK=$(mktemp -d /tmp/plateau-two-hosts-XXXXXX)
cleanup() {
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The "network": 10.199.0.1 (host-a) <-veth-> 10.199.0.2 (host-b).
ip netns add "$NS_B" || fail "ip netns add $NS_B"
ip link add "${TAG}va" type veth peer name "${TAG}vb" || fail "cannot create a veth pair"
ip link set "${TAG}va" netns "$NS_A" && ip link set "${TAG}vb" netns "$NS_B" || fail "cannot move the veth ends"
ip -n "$NS_A" addr add 10.199.0.1/24 dev "${TAG}va" && ip -n "$NS_B" addr add 10.199.0.2/24 dev "${TAG}vb" ||
    fail "cannot address the veth ends"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "${TAG}va" up && ip -n "$NS_B" link set "${TAG}vb" up || fail "cannot bring the link up"

# ssh to a host = enter its namespace, with its own host name (UTS namespace).
cat > "$WORK/netns-ssh" <<EOF
#!/bin/sh
host=\$1; shift
case \$host in
10.199.0.1) ns=$NS_A; name=host-a ;;
10.199.0.2) ns=$NS_B; name=host-b ;;
*) echo "netns-ssh: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec \$ns unshare --uts sh -c "hostname \$name; \$*"
EOF
chmod +x "$WORK/netns-ssh"
printf '10.199.0.1 slots=1\n10.199.0.2 slots=1\n' > "$WORK/hostfile"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
# On host-a: mpirun over the hostfile, TCP only, on the veth network.
across() {
    ip netns exec "$NS_A" unshare --uts sh -c 'hostname host-a; exec "$@"' sh \
        mpirun --hostfile "$WORK/hostfile" -np 2 --mca plm_rsh_agent "$WORK/netns-ssh" \
        --mca btl tcp,self --mca btl_tcp_if_include 10.199.0.0/24 --mca oob_tcp_if_include 10.199.0.0/24 \
        -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY "$@"
}

echo "two_hosts: ranks and their hosts:"
across sh -c 'echo "  rank $OMPI_COMM_WORLD_RANK on $(hostname), $(ip -4 -o addr show scope global | awk "{print \$4}")"' |
    sort || fail "mpirun across the two namespaces did not start"

# A small world and shard, then the same 2-rank training on one host and across two.
"$BIN" data bios --people 40 --out "$WORK/w" >/dev/null &&
    "$BIN" tokenizer train --vocab 320 --out "$WORK/w/tok.json" "$WORK/w/pretrain.txt" >/dev/null &&
    "$BIN" data tokenize --tokenizer "$WORK/w/tok.json" "$WORK/w/pretrain.txt" --out "$WORK/shards" >/dev/null ||
    fail "cannot build the training data"
SHARD=$(ls "$WORK"/shards/*.bin | head -n 1)
train() {
    out=$1; shift
    "$@" "$BIN" train --preset micro --vocab 320 --seed 11 --data "$SHARD" --steps 12 --lr 2e-3 --warmup 2 \
        --micro-batch 4 --seq-len 64 --batch-tokens 512 --quiet --log-every 6 --out "$out"
}
echo "two_hosts: one host, 2 ranks:"
train "$WORK/one-host" mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY | sed 's/^/  /' ||
    fail "the one-host run"
echo "two_hosts: two hosts (network namespaces), 2 ranks over TCP:"
train "$WORK/two-hosts" across | sed 's/^/  /' || fail "the two-host run"

A="$WORK/one-host/step-00000012" B="$WORK/two-hosts/step-00000012"
[ -f "$A/model.safetensors" ] || fail "the one-host run wrote no checkpoint"
[ -f "$B/model.safetensors" ] || fail "the two-host run wrote no checkpoint"
cmp -s "$A/model.safetensors" "$B/model.safetensors" || fail "weights differ between one host and two"
cmp -s "$A/train_state.bin" "$B/train_state.bin" || fail "optimizer state differs between one host and two"
grep -q '"ranks":.*2' "$B/lineage.json" || fail "lineage does not record 2 ranks"
echo "two_hosts: passed: weights and optimizer state after 12 steps are bit-identical across hosts and on one host"
