#!/usr/bin/env bash
# cluster.sh: a real 3-node Slurm cluster on this one machine, for tests (see
# /work/shared/docs/CLUSTER.md for the verified recipe this follows).
#
#   tests/cluster/cluster.sh up DIR       start it (state, logs and slurm.conf in DIR)
#   tests/cluster/cluster.sh down DIR     stop it and delete everything it created (not DIR)
#   tests/cluster/cluster.sh status DIR   namespaces, daemons and `sinfo -N`
#   tests/cluster/cluster.sh exec DIR NODE CMD...   run CMD "on" node n0|n1|n2 (its netns,
#                                         SLURM_CONF set): e.g. `exec DIR n0 sbatch ...`
#
# Nodes n0 n1 n2 are network namespaces with 10.88.0.10-12/24 (veths on a bridge inside a
# fourth namespace, hub): nothing of the machine's own network changes. Each node runs one
# slurmd in its own UTS namespace (hostname = node name); n0 also runs slurmctld.
# Node names do not resolve to addresses: use 10.88.0.1X (NodeAddr in `scontrol show node`).
# munged is this cluster's own (socket, pid, log and seed files in /run/metasac-munge-HASH,
# removed by down; the package's key), so a system munged, if any, is neither needed nor
# touched. Slurm reads DIR/slurm.conf through SLURM_CONF / -f: /etc/slurm is never written.
# Needs root, iproute2, util-linux (nsenter, unshare), slurm-wlm and munge (apt-get).
# `up` is idempotent (a running cluster in DIR is left alone); `down` is safe to run twice and
# after a failed `up`. Namespace names can be prefixed with CLUSTER_NS_PREFIX (default empty:
# n0 n1 n2 hub) to run two clusters side by side.
set -u
PROG=cluster.sh
NODES="n0 n1 n2"
P=${CLUSTER_NS_PREFIX:-}
UP_TIMEOUT=${CLUSTER_UP_TIMEOUT:-60}

s_die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
s_say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
s_addr() { echo "10.88.0.1${1#n}"; }            # n1 -> 10.88.0.11
s_ns() { echo "$P$1"; }
# munged's own directory: under /run, so the munge user reaches it whatever DIR's permissions
# (a mktemp -d is 0700); one per cluster DIR
s_mdir() { echo "/run/metasac-munge-$(printf '%s' "$1" | md5sum | cut -c1-10)"; }
s_in() { local n=$1; shift; nsenter --net=/var/run/netns/"$(s_ns "$n")" "$@"; }

s_write_conf() {
    local d=$1 host
    host=$(hostname)
    mkdir -p "$d/state" "$d/spool"
    cat >"$d/slurm.conf" <<CONF
# written by tests/cluster/cluster.sh for a test cluster in network namespaces
ClusterName=metasactest
SlurmctldHost=$host(10.88.0.10)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$(s_mdir "$d")/munge.socket.2
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# one line per finished job (JobState=COMPLETED|FAILED|..., ExitCode): what the tests read
JobCompType=jobcomp/filetxt
JobCompLoc=$d/jobcomp.txt
StateSaveLocation=$d/state
SlurmctldPidFile=$d/slurmctld.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdSpoolDir=$d/spool/%n
SlurmdPidFile=$d/slurmd-%n.pid
SlurmdLogFile=$d/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
KillWait=30
MinJobAge=600
NodeName=n0 NodeAddr=10.88.0.10 CPUs=4 RealMemory=4000
NodeName=n1 NodeAddr=10.88.0.11 CPUs=4 RealMemory=4000
NodeName=n2 NodeAddr=10.88.0.12 CPUs=4 RealMemory=4000
PartitionName=debug Nodes=n[0-2] Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
}

s_pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

s_netns_up() {
    ip netns add "$(s_ns hub)" || return 1
    s_in hub ip link set lo up
    s_in hub ip link add br0 type bridge
    s_in hub ip link set br0 up
    local n
    for n in $NODES; do
        ip netns add "$(s_ns "$n")" || return 1
        s_in "$n" ip link set lo up
        # the veth pair is made inside the node, then its peer is moved into hub
        s_in "$n" ip link add eth0 type veth peer name "v$n" || return 1
        s_in "$n" ip link set "v$n" netns "$(s_ns hub)" || return 1
        s_in hub ip link set "v$n" master br0
        s_in hub ip link set "v$n" up
        s_in "$n" ip addr add "$(s_addr "$n")/24" dev eth0
        s_in "$n" ip link set eth0 up
    done
}

s_munge_up() {
    local d=$1 m
    m=$(s_mdir "$d")
    # CLUSTER.md: munged runs as munge and refuses root-owned logs; the package made the key
    mkdir -p /run/munge && chown munge:munge /run/munge
    chown -R munge:munge /var/log/munge /var/lib/munge /etc/munge
    s_pid_alive "$m/munged.pid" && return 0
    mkdir -p "$m" && chown munge:munge "$m" && chmod 0755 "$m" || return 1
    runuser -u munge -- munged --socket="$m/munge.socket.2" --pid-file="$m/munged.pid" \
        --log-file="$m/munged.log" --seed-file="$m/munged.seed" || return 1
}

s_sinfo_idle() { # number of idle nodes seen from n0
    s_in n0 env SLURM_CONF="$1/slurm.conf" sinfo -N -h -o '%N %t' 2>/dev/null |
        awk '$2 == "idle" { n++ } END { print n + 0 }'
}

s_logs() {
    local d=$1 f
    for f in "$(s_mdir "$d")/munged.log" "$d/slurmctld.log" "$d"/slurmd-*.log; do
        [ -f "$f" ] || continue
        printf '==== %s (last 25 lines)\n' "$f" >&2
        tail -n 25 "$f" >&2
    done
}

cmd_up() {
    local d=$1 n i
    mkdir -p "$d" && d=$(cd "$d" && pwd) || s_die "cannot create $d"
    for c in slurmctld slurmd munged sinfo nsenter unshare ip runuser; do
        command -v "$c" >/dev/null 2>&1 || s_die "$c not found (apt-get install slurm-wlm munge)"
    done
    if ip netns list | grep -qw "$(s_ns n0)" && s_pid_alive "$d/slurmctld.pid" &&
        [ "$(s_sinfo_idle "$d")" -ge 3 ]; then
        s_say "already up in $d"; return 0
    fi
    # anything half-made (an earlier failed up): start from nothing
    cmd_down "$d" quiet
    s_write_conf "$d"
    s_netns_up || { s_say "network namespaces failed"; cmd_down "$d" quiet; exit 1; }
    s_munge_up "$d" || { s_say "munged failed"; s_logs "$d"; cmd_down "$d" quiet; exit 1; }
    # CLUSTER.md: nsenter (not ip netns exec, which remounts /sys and hides the cgroup tree)
    s_in n0 env SLURM_CONF="$d/slurm.conf" slurmctld -c -f "$d/slurm.conf" ||
        { s_say "slurmctld failed"; s_logs "$d"; cmd_down "$d" quiet; exit 1; }
    for n in $NODES; do
        mkdir -p "$d/spool/$n"
        s_in "$n" unshare --uts sh -c "hostname $n; SLURM_CONF='$d/slurm.conf' exec slurmd -f '$d/slurm.conf' -N $n" ||
            { s_say "slurmd $n failed"; s_logs "$d"; cmd_down "$d" quiet; exit 1; }
    done
    for ((i = 0; i < UP_TIMEOUT; i++)); do
        [ "$(s_sinfo_idle "$d")" -ge 3 ] && { s_say "up: 3 idle nodes (slurm.conf: $d/slurm.conf)"; return 0; }
        sleep 1
    done
    s_say "timeout: sinfo -N in n0 did not show 3 idle nodes after ${UP_TIMEOUT}s:"
    s_in n0 env SLURM_CONF="$d/slurm.conf" sinfo -N >&2
    s_logs "$d"
    cmd_down "$d" quiet
    exit 1
}

s_kill_pidfile() { # pidfile name: TERM, wait up to 10 s, KILL
    local f=$1 what=$2 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && { s_say "$what ($pid) did not stop: SIGKILL"; kill -KILL "$pid"; }
    fi
    rm -f "$f"
}

cmd_down() {
    local d=$1 quiet=${2:-} n pid ns
    [ -d "$d" ] && d=$(cd "$d" && pwd)
    for n in $NODES; do s_kill_pidfile "$d/slurmd-$n.pid" "slurmd $n"; done
    s_kill_pidfile "$d/slurmctld.pid" slurmctld
    # anything still running in a node (job steps whose slurmd died): killed by namespace
    for n in $NODES; do
        ns=$(s_ns "$n")
        [ -e "/var/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            [ -z "$quiet" ] && s_say "killing leftover pid $pid in $ns: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-80)"
            kill -KILL "$pid" 2>/dev/null
        done
    done
    s_kill_pidfile "$(s_mdir "$d")/munged.pid" munged
    rm -rf -- "$(s_mdir "$d")"
    for ns in $(for n in $NODES hub; do s_ns "$n"; done); do
        [ -e "/var/run/netns/$ns" ] && ip netns del "$ns"
    done
    [ -z "$quiet" ] && s_say "down ($d)"
    return 0
}

cmd_status() {
    local d=$1 n rc=0
    d=$(cd "$d" 2>/dev/null && pwd) || { echo "no cluster dir $1"; return 1; }
    for n in $NODES hub; do
        if [ -e "/var/run/netns/$(s_ns "$n")" ]; then echo "netns $(s_ns "$n"): present"; else echo "netns $(s_ns "$n"): absent"; rc=1; fi
    done
    local m
    m=$(s_mdir "$d")
    for f in "$m/munged" "$d/slurmctld" "$d/slurmd-n0" "$d/slurmd-n1" "$d/slurmd-n2"; do
        if s_pid_alive "$f.pid"; then echo "${f##*/}: running (pid $(cat "$f.pid"))"; else echo "${f##*/}: not running"; rc=1; fi
    done
    [ "$rc" = 0 ] && s_in n0 env SLURM_CONF="$d/slurm.conf" sinfo -N
    return $rc
}

cmd_exec() {
    local d=$1 n=$2; shift 2
    d=$(cd "$d" && pwd) || exit 1
    s_in "$n" env SLURM_CONF="$d/slurm.conf" "$@"
}

[ "$(id -u)" = 0 ] || s_die "needs root (network namespaces, daemons)"
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
case $1 in
up) cmd_up "$2" ;;
down) cmd_down "$2" ;;
status) cmd_status "$2" ;;
exec) [ $# -ge 4 ] || s_die "exec DIR NODE CMD..."; shift; cmd_exec "$@" ;;
*) s_die "unknown command '$1' (up, down, status, exec)" ;;
esac
