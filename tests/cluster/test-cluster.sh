#!/usr/bin/env bash
# test-cluster.sh: deploy/slurm/ on a real 3-node Slurm cluster (tests/cluster/cluster.sh) on
# this machine. Needs root, slurm-wlm, munge, curl and the programs in $METASAC_BIN_DIR (default
# build/bin). Runs from the source root; takes about 1-2 minutes on 2 loaded cores.
#
#   tests/cluster/test-cluster.sh [WORKDIR]    (default: a fresh mktemp -d, removed on success)
#
# (a) metasac.sbatch -N 3 --ntasks-per-node=2: learner on n0, actors on n0 n1 n2 joined over
#     their own 10.88.0.x addresses with CURVE, the job COMPLETED (JobState in slurmctld's
#     jobcomp/filetxt log DIR/jobcomp.txt and in `scontrol show job`), every actor and the
#     evaluator told to stop, no metasac process left on any node; resubmitting the finished run
#     completes at once. Two checks SKIP (not fail) until the learner has what they look for:
#     per-host lines `host nX: N actors` in learner.log, and the learner's Prometheus endpoint
#     (http://10.88.0.10:METRICS_PORT/metrics with metasac_actor_env_steps_total{actor="N",host="nX"}).
# (b) a run requeued (`scontrol requeue`) after its first checkpoint resumes from it and
#     COMPLETES; (b2) the time-limit path: USR1 to the batch script (what --signal=B:USR1@90
#     sends) checkpoints, requeues the job itself, and the run resumes and COMPLETES.
# (c) metasac-sweep.sh: a 1 task x 1 algo x 2 seeds array and its dependent plot job: PNG and
#     the table exist.
# The cluster is torn down on every exit (trap), pass or fail.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
export METASAC_BIN_DIR=${METASAC_BIN_DIR:-$ROOT/build/bin}
CL=$ROOT/tests/cluster/cluster.sh
W=${1:-}
keep=0
if [ -z "$W" ]; then W=$(mktemp -d /tmp/metasac-cluster.XXXXXX); else mkdir -p "$W"; keep=1; fi
W=$(cd "$W" && pwd)
D=$W/cluster
R=$W/runs
fails=0 skips=0 t0=$(date +%s)
ok() { printf 'ok    %s\n' "$*"; }
bad() { printf 'FAIL  %s\n' "$*"; fails=$((fails + 1)); }
skip() { printf 'SKIP  %s\n' "$*"; skips=$((skips + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
n0() { "$CL" exec "$D" n0 "$@"; }

cleanup() {
    local st=$?
    "$CL" down "$D" >/dev/null 2>&1
    if [ "$fails" -eq 0 ] && [ "$st" -eq 0 ] && [ "$keep" = 0 ]; then rm -rf "$W"
    else echo "test-cluster: files kept in $W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for c in sbatch slurmd slurmctld munged curl ip nsenter; do
    command -v "$c" >/dev/null || { echo "test-cluster: $c missing (apt-get install slurm-wlm munge curl)"; exit 1; }
done
for p in learner actor keygen; do
    [ -x "$METASAC_BIN_DIR/metasac-$p" ] || { echo "test-cluster: $METASAC_BIN_DIR/metasac-$p missing (make)"; exit 1; }
done

"$CL" up "$D" || exit 1
# idempotent: a second up leaves the running cluster alone
check "cluster.sh up twice" "$CL" up "$D"
mkdir -p "$R"

SMALL=(--task=hopper --algo=sac_v2 --hidden=32 --batch=32 --send_batch=8 --eval_interval=1000
       --eval_episodes=2 --update_after=64 --random_steps=500)

job_state() { n0 scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
# the last jobcomp line of a job (one line per time the job ended: a requeued job has two)
jobcomp_state() { grep "^JobId=$1 " "$D/jobcomp.txt" 2>/dev/null | tail -1 | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
wait_job() { # id timeout -> 0 once the job has ended (state in $state)
    local i
    for ((i = 0; i < $2; i++)); do
        state=$(job_state "$1")
        case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED) return 0 ;; esac
        sleep 1
    done
    return 1
}
submit() { # out-file args... -> job id
    local out=$1; shift
    n0 sbatch --parsable -N 3 --ntasks-per-node=2 -o "$out" "$ROOT/deploy/slurm/metasac.sbatch" "$@"
}
leftovers() { # metasac processes in any node's namespace
    local n pid
    for n in n0 n1 n2; do
        for pid in $(ip netns pids "${CLUSTER_NS_PREFIX:-}$n" 2>/dev/null); do
            tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'metasac-\(learner\|actor\)' &&
                echo "$n: $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-100)"
        done
    done
}

# --- (a) ---------------------------------------------------------------------------------------
echo "== (a) 3 nodes x 2 actors"
A=$R/a
# report_ms=500: the learner's per-host lines come with every third report
ja=$(submit "$R/a.out" --run_dir="$A" --total_steps=6000 --report_ms=500 "${SMALL[@]}")
# poll the Prometheus endpoint while the job runs (the port is in the job's output)
metrics="" last_m=""
for ((i = 0; i < 180; i++)); do
    st=$(job_state "$ja")
    mp=$(sed -n 's/.*, metrics \([0-9]*\)).*/\1/p' "$R/a.out" 2>/dev/null | head -1)
    if [ -n "$mp" ]; then
        m=$(n0 curl -s --max-time 2 "http://10.88.0.10:$mp/metrics" 2>/dev/null)
        [ -n "$m" ] && last_m=$m
        grep -q 'metasac_actor_env_steps_total{' <<<"$m" && metrics=$m
    fi
    case $st in PENDING | RUNNING | CONFIGURING | COMPLETING | "") sleep 0.2 ;; *) break ;; esac
done
wait_job "$ja" 60
sleep 1  # the jobcomp line is written as the job ends
check "(a) job $ja COMPLETED (scontrol show job: $state, jobcomp: $(jobcomp_state "$ja"))" \
    test "$state" = COMPLETED -a "$(jobcomp_state "$ja")" = COMPLETED
check "(a) exit code 0:0" grep -q "^JobId=$ja .*ExitCode=0:0" "$D/jobcomp.txt"
check "(a) the learner ran on n0" grep -q '^learner on host n0 ' "$A/learner.out"
check "(a) CURVE on (learner.out)" grep -q 'learner: CURVE on' "$A/learner.out"
for n in 1 2; do
    check "(a) CURVE allowed the actors' key from 10.88.0.1$n" grep -q "CURVE: allowed actors (key .*) from 10\.88\.0\.1$n\$" "$A/learner.log"
done
for n in 0 1 2; do
    check "(a) actors joined from host n$n at 10.88.0.1$n" \
        test "$(grep -c "learner: actor [0-9]* (10\.88\.0\.1$n) joined from host n$n " "$A/learner.log")" -ge 2
    check "(a) actor logs of n$n" test "$(ls "$A"/actor-n$n-*.log 2>/dev/null | wc -l)" -eq 2
done
grep 'joined from host' "$A/learner.log" | sed 's/^.*learner: /      /'
check "(a) evaluator joined and evaluated at 6000" grep -q '^6000,' "$A/eval.csv"
check "(a) the learner told everyone to stop" grep -q 'run complete: 6000 env steps' "$A/learner.log"
check "(a) all 6 actors stopped by the learner" \
    test "$(grep -l 'the learner ended the run' "$A"/actor-n*.log | wc -l)" -eq 6
check "(a) the evaluator stopped by the learner" grep -q 'the learner ended the run' "$A"/evaluator-n0.log
check "(a) the job script saw the actor steps exit 0" grep -q 'actor step status 0, evaluator step status 0' "$R/a.out"
left=$(leftovers)
check "(a) no metasac process left on any node${left:+: $left}" test -z "$left"

# per-host figures (the lead's work in progress): SKIP until the learner logs them
if grep -Eq 'host [^ ]+: [0-9]+ actors' "$A/learner.log"; then
    for n in 0 1 2; do
        check "(a) learner.log reports 'host n$n: 2 actors'" grep -Eq "host n$n: 2 actors" "$A/learner.log"
    done
else
    skip "(a) per-host throughput: learner.log has no 'host HOST: N actors' line yet"
fi
if [ -z "$mp" ]; then
    skip "(a) Prometheus: this learner has no metrics_port key (metasac-learner --help)"
elif [ -z "$metrics" ]; then
    bad "(a) Prometheus: http://10.88.0.10:$mp/metrics never served metasac_actor_env_steps_total (last answer: $(grep -c . <<<"$last_m") lines; $(grep -m3 '^metasac' <<<"$last_m" | tr '\n' ' '))"
else
    for n in 0 1 2; do
        check "(a) /metrics has metasac_actor_env_steps_total for host n$n" \
            grep -Eq "^metasac_actor_env_steps_total\{[^}]*host=\"n$n\"[^}]*\} [0-9]" <<<"$metrics"
    done
fi

# a finished run resubmitted: the learner returns at once, nothing else starts
t1=$(date +%s)
jr=$(submit "$R/a2.out" --run_dir="$A" --total_steps=3000 "${SMALL[@]}")
wait_job "$jr" 60
check "(a) resubmitting the finished run: COMPLETED in $(($(date +%s) - t1)) s without actors" \
    test "$state" = COMPLETED -a -z "$(grep 'learner up' "$R/a2.out")"
check "(a) ... the learner said so" grep -q 'the run is already complete' "$A/learner.log"

# --- (b) requeue -------------------------------------------------------------------------------
requeue_test() { # tag how
    local tag=$1 how=$2 B=$R/$1 j i
    j=$(submit "$R/$tag.out" --run_dir="$B" --total_steps=8000 --checkpoint_interval=1000 "${SMALL[@]}")
    for ((i = 0; i < 240; i++)); do grep -q 'learner: checkpoint at' "$B/learner.log" 2>/dev/null && break; sleep 0.25; done
    if [ "$how" = scontrol ]; then n0 scontrol requeue "$j"
    else n0 scancel --batch --signal=USR1 "$j"; fi
    # Slurm holds a requeued job for about 2 minutes (BeginTime): release it at once
    for ((i = 0; i < 120; i++)); do
        [ "$(job_state "$j")" = PENDING ] && { n0 scontrol update JobId="$j" StartTime=now; break; }
        sleep 0.5
    done
    wait_job "$j" 150
    check "($tag) job $j requeued by $how and COMPLETED (Restarts=$(n0 scontrol show job "$j" | grep -o 'Restarts=[0-9]*' | cut -d= -f2))" \
        test "$state" = COMPLETED -a "$(n0 scontrol show job "$j" | grep -o 'Restarts=[0-9]*')" = Restarts=1
    check "($tag) the learner checkpointed when stopped" grep -q 'learner: stopped at' "$B/learner.log"
    check "($tag) the learner resumed from its checkpoint" grep -q 'learner: resumed from .*checkpoint.bin at [1-9]' "$B/learner.log"
    check "($tag) and completed the run" grep -q 'run complete: 8000 env steps' "$B/learner.log"
    grep -E 'learner: (resumed|run complete)' "$B/learner.log" | sed 's/^.*learner: /      /'
    [ "$how" = USR1 ] && check "($tag) the script requeued itself" grep -q 'requeueing job' "$R/$tag.out"
    left=$(leftovers)
    check "($tag) no metasac process left${left:+: $left}" test -z "$left"
}
echo "== (b) requeue"
requeue_test b scontrol
echo "== (b2) time limit (USR1) and self-requeue"
requeue_test b2 USR1

# --- (c) sweep ---------------------------------------------------------------------------------
echo "== (c) sweep: 1 task x 1 algo x 2 seeds + plot job"
out=$(n0 "$ROOT/deploy/slurm/metasac-sweep.sh" --algos sac_v2 --tasks hopper --seeds 1,2 \
      --nodes 3 --ntasks-per-node 1 --runs "$R" --name sw -- --total_steps=2000 \
      --hidden=32 --batch=32 --send_batch=8 --eval_interval=1000 --eval_episodes=2 \
      --update_after=64 --random_steps=500)
echo "      $out"
pj=$(sed -n 's/.*, plot \([0-9]*\) .*/\1/p' <<<"$out")
aj=$(sed -n 's/^array \([0-9]*\) .*/\1/p' <<<"$out")
if [ -n "$pj" ]; then
    wait_job "$pj" 180
    check "(c) plot job $pj COMPLETED" test "$state" = COMPLETED
    check "(c) array tasks COMPLETED" test "$(grep -c "^JobId=[0-9]* .*Name=metasac-sw JobState=COMPLETED" "$D/jobcomp.txt")" -eq 2
    check "(c) return plot PNG" test -s "$R/sw/plots/sw-hopper-return.png"
    check "(c) table" grep -q '^| sac_v2 | 2 | 2000 |' "$R/sw/plots/sw-summary.md"
    check "(c) runs ALGO-TASK-sSEED" test -f "$R/sw/sac_v2-hopper-s1/eval.csv" -a -f "$R/sw/sac_v2-hopper-s2/eval.csv"
else
    bad "(c) metasac-sweep.sh did not submit (array '$aj')"
fi

# --- teardown ----------------------------------------------------------------------------------
"$CL" down "$D" >/dev/null
check "cluster.sh down: no namespace left" test -z "$(ip netns list | grep -Ew "${CLUSTER_NS_PREFIX:-}(n0|n1|n2|hub)")"
check "cluster.sh down twice" "$CL" down "$D"
echo "test-cluster: $fails failed, $skips skipped, $(($(date +%s) - t0)) s"
[ "$fails" -eq 0 ]
