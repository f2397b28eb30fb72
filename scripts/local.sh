#!/usr/bin/env bash
# `make local`: the MCP server and the agent on this machine with the embedded defaults:
# SQLite task store and results sink, file-based conversations, no AWS resources.
# The agent's model is Bedrock: with no AWS credentials it answers every prompt with an error
# saying what it needs, while task status (`kit_client watch`) still works.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR=${LOCAL_STATE_DIR:-.local}
MCP_PORT=${MCP_PORT:-8000}
AGENT_PORT=${AGENT_PORT:-8080}
export AWS_REGION=${AWS_REGION:-us-east-1}
MODEL_ID=${MODEL_ID:-us.anthropic.claude-sonnet-4-5-20250929-v1:0}
ACTOR_RESULTS="$PWD/$STATE_DIR/results.sqlite3"

for venv in .venv/mcp .venv/agent; do
  [[ -x $venv/bin/python ]] || { echo "missing $venv: run 'make test-mcp test-agent' (or 'make install') first" >&2; exit 2; }
done
mkdir -p "$STATE_DIR/data"
if [[ ! -f $STATE_DIR/data/sales.csv ]]; then
  # A sample dataset for summarize_csv (generated, not real sales data).
  .venv/agent/bin/python - "$STATE_DIR/data/sales.csv" <<'PY'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as out:
    out.write("region,amount\n")
    for _ in range(500_000):
        out.write(f"{rng.choice(['north', 'south', 'east', 'west'])},{rng.randint(1, 500)}\n")
PY
fi

if ! .venv/agent/bin/python -c "import boto3, sys; sys.exit(0 if boto3.Session().get_credentials() else 1)" 2>/dev/null; then
  echo "note: no AWS credentials found. The agent needs credentials allowed to call bedrock:InvokeModel" >&2
  echo "      on $MODEL_ID in $AWS_REGION (export AWS_PROFILE=... and restart); until then it says so per prompt." >&2
fi

pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

wait_ping() {  # url, name, pid
  for _ in $(seq 1 300); do
    if .venv/agent/bin/python -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || { echo "$2 exited; see its output above" >&2; exit 1; }
    sleep 0.2
  done
  echo "$2 did not answer $1" >&2; exit 1
}

(cd runtime_images/mcp_server && \
  MCP_HOST=127.0.0.1 MCP_PORT=$MCP_PORT TASK_STORE=sqlite RESULT_SINK=sqlite CALLER_IDENTITY=local \
  TASK_SQLITE_PATH="$OLDPWD/$STATE_DIR/tasks.sqlite3" RESULT_SINK_SQLITE_PATH="$ACTOR_RESULTS" \
  DATASET_ROOT="$OLDPWD/$STATE_DIR/data" exec ../../.venv/mcp/bin/python -m mcp_server) &
pids+=($!)
wait_ping "http://127.0.0.1:$MCP_PORT/ping" "the MCP server" "${pids[0]}"

(cd runtime_images/agent && \
  HOST=127.0.0.1 PORT=$AGENT_PORT MODEL_ID=$MODEL_ID MCP_AUTH=none \
  MCP_RUNTIME_URL="http://127.0.0.1:$MCP_PORT/mcp" ACTOR_ID_FROM_REQUEST=true \
  LOCAL_STATE_DIR="$OLDPWD/$STATE_DIR/agent" RESULT_SINK_SQLITE_PATH="$ACTOR_RESULTS" \
  exec ../../.venv/agent/bin/python -m agent) &
pids+=($!)
wait_ping "http://127.0.0.1:$AGENT_PORT/ping" "the agent" "${pids[1]}"

cat <<MSG
MCP server  http://127.0.0.1:$MCP_PORT/mcp   (tasks: $STATE_DIR/tasks.sqlite3, results: $STATE_DIR/results.sqlite3)
agent       http://127.0.0.1:$AGENT_PORT/invocations
talk to it: PYTHONPATH=client .venv/agent/bin/python -m kit_client ask "Summarize sales.csv by region"
Ctrl-C stops both.
MSG
wait -n "${pids[@]}"
