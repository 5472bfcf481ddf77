#!/usr/bin/env bash
# A sweep through a real Slurm cluster: starts a single-node cluster (munged, slurmctld,
# slurmd) in a temporary folder, submits a small sweep as a 4-task job array with
# `hdgan sweep submit`, waits, merges, and checks that the table is byte-identical to the
# same sweep run locally without shards; stops the daemons by PID on the way out.
# Needs root and Debian's packages (installed here when missing). Called by .ci/run.
#
#     .ci/slurm-sweep.sh                                   # the small CI sweep (8 cells)
#     .ci/slurm-sweep.sh configs/sweep-fig1-seeds.toml 4   # any sweep file, as N shards
set -euo pipefail
SWEEP_ARG=${1:-}
SHARDS=${2:-4}
[ -z "$SWEEP_ARG" ] || SWEEP_ARG=$(realpath "$SWEEP_ARG")
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HDGAN="$ROOT/target/release/hdgan"
cargo build --release -q -p hdgan-cli
BASE=$(mktemp -d "${TMPDIR:-/tmp}/hdgan-slurm.XXXXXX")
echo "slurm cluster in $BASE"

stop_cluster() {
  # Only the daemons this script started, by the PIDs they wrote.
  for pf in "$BASE/run/slurmd.pid" "$BASE/run/slurmctld.pid" "$BASE/run/munged.pid"; do
    [ -s "$pf" ] || continue
    pid=$(cat "$pf")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  done
}
ok=0
finish() {
  stop_cluster
  # The temporary folder is ours; kept when a step failed, for its logs.
  if [ "$ok" = 1 ]; then rm -rf "$BASE"; fi
}
trap finish EXIT

# Packages: Debian's slurm (22.05) and munge.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    slurmctld slurmd slurm-client munge
fi

# munge: a key, and a daemon of our own unless one already answers.
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --force
  chown munge:munge /etc/munge/munge.key
  chmod 600 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge "$BASE"/{etc,state/ctld,state/d,log,run}
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  # Ours to stop on the way out.
  cp /run/munge/munged.pid "$BASE/run/munged.pid"
fi
munge -n | unmunge >/dev/null

# slurm.conf: one node with this machine's CPUs; no cgroups (no systemd here).
HOST=$(hostname -s)
MEM=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 512 ))
cat > "$BASE/etc/slurm.conf" <<CONF
ClusterName=hdgan-ci
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
StateSaveLocation=$BASE/state/ctld
SlurmdSpoolDir=$BASE/state/d
MailProg=/bin/true
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
SchedulerType=sched/backfill
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$HOST CPUs=$(nproc) RealMemory=$MEM State=UNKNOWN
PartitionName=ci Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$BASE/etc/slurm.conf"
slurmctld -f "$SLURM_CONF" -c
slurmd -f "$SLURM_CONF" || { tail -n 30 "$BASE/log/slurmd.log"; exit 1; }
for _ in $(seq 300); do
  case "$(sinfo -h -N -n "$HOST" -o %t 2>/dev/null || true)" in idle*) break ;; esac
  sleep 0.2
done
[[ "$(sinfo -h -N -n "$HOST" -o %t)" == idle* ]] || { tail -n 30 "$BASE"/log/*.log; exit 1; }

# The sweep: the file given, or Figure 1 with the Gram engine, two n and four seeds (8 cells).
SWEEP="$BASE/sweep-ci.toml"
[ -z "$SWEEP_ARG" ] || SWEEP="$SWEEP_ARG"
cat > "$BASE/sweep-ci.toml" <<TOML
seed = 31
seeds = 4
base = "$ROOT/configs/fig1-success.toml"
engine = "gram"
metrics = ["ode_error", "end", "phase", "alignment"]
[[axis]]
key = "model.n"
values = [500, 1000]
TOML
out=$("$HDGAN" -q sweep submit "$SWEEP" --slurm --shards "$SHARDS" --out "$BASE/slurm")
echo "$out"
job=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
[ -n "$job" ] || { echo "no job id"; exit 1; }
start=$SECONDS
# Up to an hour: the small sweep takes seconds, Figure 1's 96 cells a few minutes.
for _ in $(seq 7200); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 0.5
done
echo "job $job finished after $((SECONDS - start)) s"
[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] || { echo "job $job still queued"; squeue; exit 1; }
ls "$BASE/slurm/logs"
"$HDGAN" sweep status "$BASE/slurm"
"$HDGAN" -q sweep merge "$BASE/slurm"
start=$SECONDS
"$HDGAN" -q sweep "$SWEEP" --out "$BASE/local"
echo "local run without shards: $((SECONDS - start)) s"
cmp "$BASE/slurm/table.csv" "$BASE/local/table.csv"
echo "slurm sweep: table.csv identical to the local run ($(($(wc -l < "$BASE/local/table.csv") - 1)) cells)"
ok=1
