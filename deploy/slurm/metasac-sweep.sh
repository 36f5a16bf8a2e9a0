#!/usr/bin/env bash
# metasac-sweep.sh: submit a grid of metasac runs (algorithms x tasks x seeds) to Slurm as one
# job array, plus a job that draws the plots and the table once every run has ended.
#
# Usage:
#   deploy/slurm/metasac-sweep.sh --algos A,B --tasks T,... --seeds 1,2 \
#       [--nodes N] [--ntasks-per-node K] [--name NAME] [--runs DIR] [--sbatch-args "..."] \
#       [-- --key=value ...]
#
# Array task i runs deploy/slurm/metasac.sbatch (on N nodes with K actors each, default 1 x 2)
# for combination i into RUNS/NAME/ALGO-TASK-sSEED (RUNS default runs, NAME default sweep; on
# a filesystem every node sees). The flags after -- go to every learner (--task, --algo, --seed
# and --run_dir are set by the sweep). A finished run is cheap to re-run: its learner finds its
# checkpoint at total_steps and returns at once, so submitting the same sweep again runs only
# what is missing. Then a job depending on the whole array (--dependency=afterany:ARRAY) runs
# deploy/metasac-plot -o RUNS/NAME/plots/NAME over the run directories: PNG/SVG per task and
# RUNS/NAME/plots/NAME-summary.md (the table). Job output: RUNS/NAME/slurm-%A_%a.out and
# RUNS/NAME/plot-%j.out.
#
#   --sbatch-args "..."  more sbatch options for the array (e.g. "--time=04:00:00 -p gpu")
#   --dry-run            print the two sbatch commands, submit nothing
# Prints the array job id and the plot job id. Needs sbatch on PATH (a login node).
set -u -f
PROG=metasac-sweep.sh
HERE=$(cd "$(dirname -- "$0")" && pwd)
s_die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 2; }

algos="" tasks="" seeds="1" nodes=1 ntpn=2 name=sweep runs=runs sbatch_extra="" dry=0
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --algos) algos=${2:-}; shift 2 ;;          --algos=*) algos=${1#*=}; shift ;;
    --tasks) tasks=${2:-}; shift 2 ;;          --tasks=*) tasks=${1#*=}; shift ;;
    --seeds) seeds=${2:-}; shift 2 ;;          --seeds=*) seeds=${1#*=}; shift ;;
    --nodes | -N) nodes=${2:-}; shift 2 ;;     --nodes=*) nodes=${1#*=}; shift ;;
    --ntasks-per-node) ntpn=${2:-}; shift 2 ;; --ntasks-per-node=*) ntpn=${1#*=}; shift ;;
    --name) name=${2:-}; shift 2 ;;            --name=*) name=${1#*=}; shift ;;
    --runs) runs=${2:-}; shift 2 ;;            --runs=*) runs=${1#*=}; shift ;;
    --sbatch-args) sbatch_extra=${2:-}; shift 2 ;; --sbatch-args=*) sbatch_extra=${1#*=}; shift ;;
    --dry-run) dry=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) s_die "unknown argument '$1' (learner flags go after --; see --help)" ;;
    esac
done
[ -n "$algos" ] || s_die "--algos is required (sac_v1 sac_v2 meta_sac td3)"
[ -n "$tasks" ] || s_die "--tasks is required (hopper walker2d half_cheetah ant humanoid)"
for v in "$algos" "$tasks" "$seeds"; do
    case $v in '' | ,* | *, | *,,* | *[!A-Za-z0-9_,]*) s_die "bad list '$v'" ;; esac
done
case $name in '' | *[!A-Za-z0-9_.-]* | . | ..) s_die "--name '$name': letters, digits, _ . -" ;; esac
case "$nodes$ntpn" in *[!0-9]*) s_die "--nodes and --ntasks-per-node take positive integers" ;; esac
for f in ${extra[@]+"${extra[@]}"}; do
    case $f in
    --task=* | --algo=* | --seed=* | --run_dir=*) s_die "'$f': the sweep sets it" ;;
    --?*=*) ;;
    *) s_die "'$f' after --: learner flags have the form --key=value" ;;
    esac
done
IFS=, read -r -a A <<<"$algos"
IFS=, read -r -a T <<<"$tasks"
IFS=, read -r -a S <<<"$seeds"
n=$((${#A[@]} * ${#T[@]} * ${#S[@]}))

mkdir -p -- "$runs/$name" || s_die "cannot create $runs/$name"
dir=$(cd -- "$runs/$name" && pwd)
# the run directories, in the array's order (tasks, then algos, then seeds)
dirs=()
for t in "${T[@]}"; do for a in "${A[@]}"; do for s in "${S[@]}"; do
    dirs+=("$dir/$a-$t-s$s")
done; done; done
bin=${METASAC_BIN_DIR:-}
[ -n "$bin" ] || { [ -x "$HERE/../../build/bin/metasac-learner" ] && bin=$(cd "$HERE/../../build/bin" && pwd); }

export METASAC_GRID_DIR=$dir METASAC_GRID_ALGOS=$algos METASAC_GRID_TASKS=$tasks METASAC_GRID_SEEDS=$seeds
[ -n "$bin" ] && export METASAC_BIN_DIR=$bin
# shellcheck disable=SC2206 # word splitting of --sbatch-args is intended
sb_extra=($sbatch_extra)
array_cmd=(sbatch --parsable --array=0-$((n - 1)) -N "$nodes" --ntasks-per-node="$ntpn"
           --job-name="metasac-$name" -o "$dir/slurm-%A_%a.out" ${sb_extra[@]+"${sb_extra[@]}"}
           "$HERE/metasac.sbatch" ${extra[@]+"${extra[@]}"})
# the plot job's script: metasac-plot over the runs that started (a run without config.ini
# never did), written next to the runs so it can be read and re-run by hand
plot_sh=$dir/plot.sh
{
    echo '#!/usr/bin/env bash'
    echo "# written by metasac-sweep.sh: plots and table of sweep $name"
    printf 'dirs=()\nfor d in'; printf ' %q' "${dirs[@]}"; printf '; do\n'
    echo '    if [ -f "$d/config.ini" ]; then dirs+=("$d"); else echo "not plotted (never started): $d" >&2; fi'
    echo 'done'
    echo '[ ${#dirs[@]} -gt 0 ] || { echo "no run to plot" >&2; exit 1; }'
    printf 'exec %q -o %q "${dirs[@]}"\n' "$(cd "$HERE/.." && pwd)/metasac-plot" "$dir/plots/$name"
} >"$plot_sh" && chmod +x "$plot_sh" || s_die "cannot write $plot_sh"
if [ "$dry" = 1 ]; then
    printf 'would submit:'; printf ' %q' "${array_cmd[@]}"; printf '\n'
    printf 'then: sbatch --dependency=afterany:ARRAY -N 1 -n 1 %q\n' "$plot_sh"
    exit 0
fi
array_id=$("${array_cmd[@]}") || s_die "sbatch failed"
array_id=${array_id%%;*}
plot_id=$(sbatch --parsable --dependency=afterany:"$array_id" -N 1 -n 1 \
    --job-name="metasac-$name-plot" -o "$dir/plot-%j.out" "$plot_sh") ||
    s_die "sbatch of the plot job failed (the array $array_id is submitted)"
plot_id=${plot_id%%;*}
echo "array $array_id ($n runs into $dir), plot $plot_id (-> $dir/plots/$name-*)"
