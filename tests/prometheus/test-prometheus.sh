#!/bin/bash
# A real Prometheus server scrapes a running learner: starts metasac-run (learner, 2 actors,
# evaluator) with its metrics endpoint on a free port, a Prometheus 2.x (Debian's package) with a
# scrape config pointing at it, and checks through Prometheus's HTTP query API that the
# learner's series and the actors' per-actor series (with their actor and host labels) arrived.
# Usage: tests/prometheus/test-prometheus.sh [BIN_DIR]   (default build/bin). Exit 0 = passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/bin}
if ! command -v prometheus >/dev/null || ! command -v curl >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus curl \
        >/dev/null  # .ci/run installs them with services held back
fi
TMP=$(mktemp -d /tmp/metasac-prom-XXXXXX)
RUN=$TMP/run
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "test-prometheus: FAIL: $*" >&2; echo "(logs: $RUN; prometheus: $TMP/prom.log)" >&2; KEEP=1; exit 1; }

"$BIN/metasac-run" --run_dir="$RUN" --hidden=32 --batch=32 --actors=2 --total_steps=100000000 \
    --eval_interval=500 --eval_episodes=1 --report_ms=1000 --log_level=warn >"$TMP/run.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$RUN/endpoints" ] && [ "$(wc -l <"$RUN/endpoints")" -ge 3 ] && break; sleep 0.1; done
URL=$(sed -n 3p "$RUN/endpoints")
[ -n "$URL" ] || fail "the endpoints file names no metrics URL"
TARGET=${URL#http://}; TARGET=${TARGET%/metrics}
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: metasac
    static_configs:
      - targets: ["$TARGET"]
YML
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" >"$TMP/prom.log" 2>&1 &
pids+=($!)
query() { curl -sfG "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1"; }
HOST=$(hostname)
ok=0
for _ in $(seq 60); do
    sleep 1
    A=$(query 'metasac_actor_env_steps_total' || true)
    E=$(query 'metasac_env_steps_total' || true)
    R=$(query 'metasac_rejected_total{reason="unknown_peer"}' || true)
    # two actors, each with its actor label and this host's name, and steps > 0
    n=$(python3 - "$A" "$HOST" <<'PY' || echo 0
import json, sys
d = json.loads(sys.argv[1]) if sys.argv[1] else {}
r = d.get("data", {}).get("result", [])
print(sum(1 for x in r if x["metric"].get("host") == sys.argv[2] and x["metric"].get("actor")
          and float(x["value"][1]) > 0))
PY
)
    e=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1])["data"]["result"]; print(float(r[0]["value"][1]) if r else 0)' "$E" 2>/dev/null || echo 0)
    r=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["data"]["result"]))' "$R" 2>/dev/null || echo 0)
    if [ "$n" -ge 2 ] && python3 -c "import sys; sys.exit(0 if float('$e') > 0 else 1)" && [ "$r" -ge 1 ]; then
        ok=1; break
    fi
done
[ $ok = 1 ] || fail "series did not arrive: actors=$A env=$E rejected=$R"
echo "test-prometheus: passed: Prometheus scraped $TARGET: $n actor series on host $HOST, env steps $e"
echo "1 passed, 0 failed"
