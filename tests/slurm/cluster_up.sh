#!/usr/bin/env bash
# cluster_up.sh - bring up a real SLURM cluster (Debian 12 packages, slurm 22.05) on this machine for the
# m1repro SLURM test (tests/slurm/test_slurm_workflow.py, run by .ci/slurm-test.sh): munge, MariaDB + slurmdbd
# (so sacct shows every job), slurmctld and one slurmd per virtual node; partitions `cpu` (default) and `gpu`;
# fake GPUs. Defaults: two virtual nodes (the multi-node training rule needs nodes=2), two fake GPUs per node.
# .ci/slurm-test.sh shapes it like a typical university site (docs/site.md): typed GPUs (Gres=gpu:a100:2) and node
# names with a suffix (<host>-n1-ib, <host>-n2-ib), described to the workflow by tests/slurm/site.yaml.
# Idempotent: safe to run again; daemons that are already running (per recorded PID) are left alone.
# cluster_down.sh stops them by PID.
#
# Must run as root. No systemd, no cgroups. Everything lives under $SLURMLAB, except:
#   /etc/slurm/slurm.conf  -> symlink to $SLURMLAB/etc/slurm.conf (client commands
#                             run inside jobs get SLURM_* env stripped by the jobstep
#                             plugin, so the config MUST be at the default path)
#   /run/munge/            (munged's default socket; slurmdbd persistent connections
#                             ignore AuthInfo=socket=..., so use the default socket)
#
# Env knobs:
#   SLURMLAB=/tmp/slurmlab         where config, state, logs, pids live
#   SLURMLAB_ACCOUNTING=slurmdbd   slurmdbd (MariaDB + sacct works) | none (no sacct:
#                                  profile must set slurm-status-command: squeue)
#   SLURMLAB_ACCOUNT=ci            slurm account created for $SLURMLAB_USER (slurmdbd mode)
#   SLURMLAB_USER=$(id -un)
#   SLURMLAB_GPUS=2                number of fake GPUs (gres gpu) per node
#   SLURMLAB_GPU_TYPE=             optional GPU type, e.g. a100: typed gres (Gres=gpu:a100:N) and its
#                                  accounting TRES (gres/gpu:a100), for gpu_model= rules
#   SLURMLAB_NODES=2               >1: that many virtual nodes (one slurmd each, all on
#                                  this host, each with all CPUs) for multi-node rules
#   SLURMLAB_NODE_SUFFIX=          text after each virtual node's number, e.g. -ib (<host>-n1-ib);
#                                  SLURM 22.05 rejects a bracket range followed by text
#                                  ("Invalid hostlist"), so such nodes are listed one by one
#   SLURMLAB_MEM_MB=               memory (MB) each node declares; default 90% of the machine's,
#                                  shared among the virtual nodes. More than the machine has is
#                                  declared with SlurmdParameters=config_overrides (no cgroups here:
#                                  nothing enforces it; it lets the site's per-GPU memory be asked)
#   SLURMLAB_SMOKE=1               run srun smoke tests at the end
set -euo pipefail

LAB=${SLURMLAB:-/tmp/slurmlab}
ACCOUNTING=${SLURMLAB_ACCOUNTING:-slurmdbd}
ACCOUNT=${SLURMLAB_ACCOUNT:-ci}
CI_USER=${SLURMLAB_USER:-$(id -un)}
NGPU=${SLURMLAB_GPUS:-2}
GPU_TYPE=${SLURMLAB_GPU_TYPE:-}
NNODES=${SLURMLAB_NODES:-2}
NODE_SUFFIX=${SLURMLAB_NODE_SUFFIX:-}
NODE_MEM=${SLURMLAB_MEM_MB:-}
SMOKE=${SLURMLAB_SMOKE:-1}
CLUSTER=lab
DB_PORT=3307

log() { printf '[cluster_up.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*"; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root"
[[ $ACCOUNTING == slurmdbd || $ACCOUNTING == none ]] || die "SLURMLAB_ACCOUNTING must be slurmdbd or none"
T0=$(date +%s)

# ---------------------------------------------------------------- 1. packages
PKGS=(munge slurm-client slurmctld slurmd)
[[ $ACCOUNTING == slurmdbd ]] && PKGS+=(slurmdbd mariadb-server)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d / no systemd: postinst cannot start services, which is what we want
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "packages: $(dpkg-query -W -f='${Package}=${Version} ' "${PKGS[@]}")"

# ---------------------------------------------------------------- 2. dirs + config
mkdir -p "$LAB"/{etc,run,log,pids,state/ctld,spool,fakegpu}
chmod 755 "$LAB" "$LAB/run"
mkdir -p /run/munge /etc/slurm && chmod 755 /run/munge

NODE=$(hostname -s)
# hardware as slurmd sees it (first line of slurmd -C)
HW=$(slurmd -C | head -1)
hw() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$HW"; }
CPUS=$(hw CPUs); SOCKETS=$(hw SocketsPerBoard); CORES=$(hw CoresPerSocket)
THREADS=$(hw ThreadsPerCore); MEM=$(hw RealMemory)
MEM=$((MEM * 90 / 100))   # a bit under the machine's memory

if [[ ! -s $LAB/etc/munge.key ]]; then
    dd if=/dev/urandom of="$LAB/etc/munge.key" bs=1024 count=1 status=none
fi
chmod 400 "$LAB/etc/munge.key"

# node names: the short hostname, or <host>-n1..N virtual nodes (multiple slurmd), with the optional suffix. A
# suffix after a bracket range (<host>-n[1-2]-ib) is "Invalid hostlist" to SLURM 22.05, so the list is spelled out.
if ((NNODES > 1)); then
    NODES=(); for ((i = 1; i <= NNODES; i++)); do NODES+=("$NODE-n$i$NODE_SUFFIX"); done
    if [[ -n $NODE_SUFFIX ]]; then NODELIST=$(IFS=,; echo "${NODES[*]}"); else NODELIST="$NODE-n[1-$NNODES]"; fi
    MEM=$((MEM / NNODES))
else
    NODES=("$NODE$NODE_SUFFIX"); NODELIST=${NODES[0]}
fi
SLURMD_PARAMS=""
if [[ -n $NODE_MEM ]]; then
    ((NODE_MEM > MEM)) && SLURMD_PARAMS="SlurmdParameters=config_overrides"
    MEM=$NODE_MEM
fi
GRES_NODE=""
GRES_LINES="AutoDetect=off"
if ((NGPU > 0)); then
    # fake GPUs: gres/gpu needs File= (file-less GPUs are dropped by slurmd) and the
    # files must be char/block devices -> symlinks to /dev/null
    for ((i = 0; i < NGPU; i++)); do ln -sfn /dev/null "$LAB/fakegpu/nvidia$i"; done
    GRES_NODE="Gres=gpu:${GPU_TYPE:+$GPU_TYPE:}$NGPU"
    GRES_LINES+=$'\n'"NodeName=$NODELIST Name=gpu ${GPU_TYPE:+Type=$GPU_TYPE }File=$LAB/fakegpu/nvidia[0-$((NGPU - 1))]"
fi
NODE_LINES=""
for ((i = 0; i < ${#NODES[@]}; i++)); do
    port=""; ((NNODES > 1)) && port="Port=$((17001 + i)) "
    NODE_LINES+="NodeName=${NODES[i]} NodeAddr=127.0.0.1 NodeHostname=$NODE ${port}CPUs=$CPUS Sockets=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM $GRES_NODE State=UNKNOWN"$'\n'
done

if [[ $ACCOUNTING == slurmdbd ]]; then
    ACCT_BLOCK="JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu${GPU_TYPE:+,gres/gpu:$GPU_TYPE}"
else
    ACCT_BLOCK="JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none"
fi

write_if_changed() {   # path mode ; content on stdin
    local tmp; tmp=$(mktemp "$1.XXXX")
    cat >"$tmp"; chmod "$2" "$tmp"
    if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
    mv -f "$tmp" "$1"; return 0
}
changed=0
write_if_changed "$LAB/etc/slurm.conf" 644 <<EOF && changed=1 || true
# generated by tests/slurm/cluster_up.sh - single-node Slurm for CI (no systemd, no cgroups)
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$LAB/state/ctld
SlurmdSpoolDir=$LAB/spool/d-%n
SlurmctldPidFile=$LAB/run/slurmctld.pid
SlurmdPidFile=$LAB/run/slurmd-%n.pid
SlurmctldLogFile=$LAB/log/slurmctld.log
SlurmdLogFile=$LAB/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
$ACCT_BLOCK
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmdTimeout=60
GresTypes=gpu
$SLURMD_PARAMS
${NODE_LINES}PartitionName=cpu Nodes=$NODELIST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODELIST MaxTime=INFINITE State=UP
EOF
write_if_changed "$LAB/etc/gres.conf" 644 <<EOF && changed=1 || true
$GRES_LINES
EOF
if [[ $ACCOUNTING == slurmdbd ]]; then
    write_if_changed "$LAB/etc/slurmdbd.conf" 600 <<EOF && changed=1 || true
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$LAB/run/slurmdbd.pid
LogFile=$LAB/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
fi

# default config path for all client commands (also inside jobs)
if [[ -e /etc/slurm/slurm.conf && ! -L /etc/slurm/slurm.conf ]]; then
    mv /etc/slurm/slurm.conf "/etc/slurm/slurm.conf.bak.$(date +%s)"
fi
ln -sfn "$LAB/etc/slurm.conf" /etc/slurm/slurm.conf
export SLURM_CONF=$LAB/etc/slurm.conf   # for slurmdbd (finds slurmdbd.conf next to it)

# ---------------------------------------------------------------- 3. daemons
is_running() {  # name pattern
    local f=$LAB/pids/$1.pid p
    [[ -s $f ]] || return 1
    p=$(<"$f")
    [[ -r /proc/$p/cmdline ]] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$2"
}
start() {  # name pattern cmd...
    local name=$1 pat=$2; shift 2
    if is_running "$name" "$pat"; then log "$name already running (pid $(<"$LAB/pids/$name.pid"))"; return 0; fi
    # setsid: own session, no controlling tty; survives the calling shell
    setsid "$@" >"$LAB/log/$name.out" 2>&1 </dev/null &
    echo $! >"$LAB/pids/$name.pid"
    log "started $name (pid $!)"
}
wait_for() {  # seconds description cmd...
    local n=$1 what=$2 i; shift 2
    for ((i = 0; i < n * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    die "timeout waiting for $what (see $LAB/log/)"
}
if ((changed)) && is_running slurmctld slurmctld; then
    log "WARNING: config changed while daemons run; restart with cluster_down.sh && cluster_up.sh"
fi

start munged munged munged -F --key-file="$LAB/etc/munge.key" \
    --pid-file="$LAB/run/munged.pid" --log-file="$LAB/log/munged.log" --seed-file="$LAB/run/munged.seed"
wait_for 20 munged bash -c 'munge -n | unmunge'

if [[ $ACCOUNTING == slurmdbd ]]; then
    if [[ ! -d $LAB/mysql/data/mysql ]]; then
        mkdir -p "$LAB/mysql/data"
        mariadb-install-db --no-defaults --user=root --datadir="$LAB/mysql/data" \
            --skip-test-db --auth-root-authentication-method=socket >"$LAB/log/mariadb-install.log" 2>&1
    fi
    start mariadbd mariadbd mariadbd --no-defaults --user=root --datadir="$LAB/mysql/data" \
        --socket="$LAB/run/mysqld.sock" --pid-file="$LAB/run/mysqld.pid" --port=$DB_PORT \
        --bind-address=127.0.0.1 --log-error="$LAB/log/mariadb.err" \
        --innodb-buffer-pool-size=1024M --innodb-log-file-size=64M --innodb-lock-wait-timeout=900
    wait_for 60 mariadb mariadb-admin --no-defaults -S "$LAB/run/mysqld.sock" -u root ping
    mariadb --no-defaults -S "$LAB/run/mysqld.sock" -u root -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
        FLUSH PRIVILEGES;"
    start slurmdbd slurmdbd slurmdbd -D
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" ||
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT" ||
        sacctmgr -i add account "$ACCOUNT" Description=ci Organization=ci >/dev/null
    sacctmgr -n -P list assoc user="$CI_USER" account="$ACCOUNT" format=user | grep -qx "$CI_USER" ||
        sacctmgr -i add user "$CI_USER" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null
fi

start slurmctld slurmctld slurmctld -D -f "$LAB/etc/slurm.conf"
wait_for 60 slurmctld scontrol ping
for n in "${NODES[@]}"; do
    if ((NNODES > 1)); then
        start "slurmd-$n" "slurmd" slurmd -D -N "$n" -f "$LAB/etc/slurm.conf"
    else
        start "slurmd-$n" "slurmd" slurmd -D -f "$LAB/etc/slurm.conf"
    fi
done

# nodes must become idle (resume them if a previous unclean stop left them down/drained)
for n in "${NODES[@]}"; do
    for ((i = 0; i < 150; i++)); do
        st=$(sinfo -h -n "$n" -o %T 2>/dev/null | head -1 || true)
        case $st in
            idle | mixed | allocated) break ;;
            down* | drain* | inval*) scontrol update NodeName="$n" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.2
    done
    [[ $st == idle || $st == mixed || $st == allocated ]] || die "node $n state '$st' (see $LAB/log/slurmd-$n.log)"
    log "node $n is $st"
done

# ---------------------------------------------------------------- 4. smoke test
if [[ $SMOKE == 1 ]]; then
    [[ $(srun -p cpu -t 1 -N "$NNODES" hostname | sort -u) == "$NODE" ]] || die "srun smoke test failed"
    if ((NGPU > 0)); then
        g=$(srun -p gpu -t 1 --gpus=${GPU_TYPE:+$GPU_TYPE:}1 printenv CUDA_VISIBLE_DEVICES) || die "gpu smoke test failed"
        log "gpu smoke test (--gpus=${GPU_TYPE:+$GPU_TYPE:}1): CUDA_VISIBLE_DEVICES=$g"
    fi
    if [[ $ACCOUNTING == slurmdbd ]]; then
        wait_for 30 "sacct" sacct -X -n -o JobID
    fi
fi
sinfo
log "cluster up in $(($(date +%s) - T0))s (accounting=$ACCOUNTING, pids in $LAB/pids)"
