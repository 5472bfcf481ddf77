#!/usr/bin/env bash
# A sweep through a real Slurm cluster: starts a single-node cluster (munged, slurmctld,
# slurmd) in a temporary folder, submits a small sweep as a 4-task job array with
# `hdgan sweep submit`, waits, merges, and checks that the table is byte-identical to the
# same sweep run locally without shards; stops the daemons by PID on the way out.
# Needs root and Debian's packages (installed here when missing). Called by .ci/run.
#
#     .ci/slurm-sweep.sh                                   # the small CI sweep (8 cells)
#     .ci/slurm-sweep.sh configs/sweep-fig1-seeds.toml 4   # any sweep file, as N shards
#
# With the small CI sweep it then runs a chaos round: a longer sweep whose array tasks are
# killed (SIGKILL) or requeued at random moments; its merged table must equal the local run's.
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

# Chaos: a sweep whose tasks last seconds (the full engine), its array tasks killed at random
# moments, either hard (`scancel --signal=KILL`, then `scontrol requeue`) or by Slurm's own
# requeue of a running task (SIGTERM, then SIGKILL after KillWait); each requeued task is
# released at once (Slurm holds a requeued task for two minutes). The merged table must
# still be byte-identical to the same sweep run locally. CHAOS_KILLS=0 skips it.
CHAOS_KILLS=${CHAOS_KILLS:-8}
if [ -z "$SWEEP_ARG" ] && [ "$CHAOS_KILLS" -gt 0 ]; then
  RANDOM=${CHAOS_SEED:-2026}
  echo "chaos: seed ${CHAOS_SEED:-2026} (replay with CHAOS_SEED=...), up to $CHAOS_KILLS kills"
  cat > "$BASE/sweep-chaos.toml" <<TOML
seed = 5
seeds = 6
base = "$ROOT/configs/fig1-success.toml"
engine = "full"
metrics = ["ode_error", "end", "phase", "alignment"]
[[axis]]
key = "model.n"
values = [1000, 2000]
TOML
  out=$("$HDGAN" -q sweep submit "$BASE/sweep-chaos.toml" --slurm --shards "$SHARDS" --out "$BASE/chaos")
  job=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
  [ -n "$job" ] || { echo "no job id"; exit 1; }
  release() { # a requeued task waits for its BeginTime: start it now
    for t in $(squeue -h -j "$job" -t PD -o "%i %r" 2>/dev/null | awk '$2 == "BeginTime" {print $1}'); do
      scontrol update jobid="$t" StartTime=now 2>/dev/null || true
    done
  }
  kills=0 hard=0 start=$SECONDS
  while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ] && [ $((SECONDS - start)) -lt 1800 ]; do
    sleep "0.$((RANDOM % 9 + 1))"
    release
    [ "$kills" -lt "$CHAOS_KILLS" ] || continue
    task="${job}_$((RANDOM % SHARDS))"
    [ "$(squeue -h -j "$task" -o %T 2>/dev/null)" = RUNNING ] || continue
    # Let the task work a moment first, so that kills land inside cells.
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"
    [ "$(squeue -h -j "$task" -o %T 2>/dev/null)" = RUNNING ] || continue
    if [ $((RANDOM % 2)) = 0 ]; then
      scancel --signal=KILL "$task" || continue
      for _ in $(seq 50); do
        scontrol requeue "$task" 2>/dev/null && break
        sleep 0.1
      done
      hard=$((hard + 1)) how="SIGKILL, requeued"
    else
      scontrol requeue "$task" || continue
      how="requeued while running"
    fi
    kills=$((kills + 1))
    echo "chaos: $task $how at $((SECONDS - start)) s"
  done
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] || { echo "chaos job $job still queued"; squeue; exit 1; }
  echo "chaos: $kills kills ($hard SIGKILL + requeue, $((kills - hard)) requeue of a running task), job done after $((SECONDS - start)) s"
  [ "$kills" -gt 0 ] || { echo "chaos: no kill landed (the tasks ended too soon)"; exit 1; }
  "$HDGAN" sweep status "$BASE/chaos"
  "$HDGAN" -q sweep merge "$BASE/chaos"
  "$HDGAN" -q sweep "$BASE/sweep-chaos.toml" --out "$BASE/chaos-local"
  cmp "$BASE/chaos/table.csv" "$BASE/chaos-local/table.csv"
  echo "chaos: table.csv identical to the uninterrupted local run"
fi
ok=1
