#!/usr/bin/env bash
# `make local`: the MCP server and the agent on this machine with the embedded defaults:
# SQLite task store and results sink, file-based conversations, no AWS resources.
# The agent's model is Bedrock unless MODEL_PROVIDER says otherwise: with no AWS credentials it
# answers every prompt with an error saying what it needs, while the tasks themselves work
# without any model (`kit tasks ...`).
#
# Settings (environment variables):
#   MCP_PORT=8000        the MCP server's port (http://127.0.0.1:$MCP_PORT/mcp)
#   AGENT_PORT=8080      the agent's port (http://127.0.0.1:$AGENT_PORT/invocations)
#   LOCAL_STATE_DIR=.local   tasks, results, conversations and the sample data
#   LOCAL_LOG_FORMAT=text    text: each process's JSON log lines rendered for a terminal
#                            (`kit logs`, metric lines summarised); json: as the images write them
#   MODEL_PROVIDER, MODEL_ID, MODEL_BASE_URL, MODEL_API_KEY, AWS_REGION   the agent's model (docs/agent-and-client.md)
# `kit` finds these servers at KIT_MCP_URL and KIT_LOCAL_URL, else at 127.0.0.1:$MCP_PORT and
# :$AGENT_PORT: export the same MCP_PORT/AGENT_PORT (or the two URLs) in the shell that runs kit.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR=${LOCAL_STATE_DIR:-.local}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)  # the servers run from their image folders: an absolute path
MCP_PORT=${MCP_PORT:-8000}
AGENT_PORT=${AGENT_PORT:-8080}
export AWS_REGION=${AWS_REGION:-us-east-1}
MODEL_PROVIDER=${MODEL_PROVIDER:-bedrock}
case $MODEL_PROVIDER in
  bedrock) MODEL_ID=${MODEL_ID:-us.anthropic.claude-sonnet-4-5-20250929-v1:0} ;;
  openai|ollama)
    [[ -n ${MODEL_ID:-} ]] || { echo "MODEL_PROVIDER=$MODEL_PROVIDER needs MODEL_ID: the model name your server serves" >&2; exit 2; } ;;
  *) echo "MODEL_PROVIDER=$MODEL_PROVIDER: expected bedrock, openai or ollama" >&2; exit 2 ;;
esac
LOG_FORMAT=${LOCAL_LOG_FORMAT:-text}
ACTOR_RESULTS="$STATE_DIR/results.sqlite3"
KIT="$PWD/.venv/client/bin/kit"

for venv in .venv/mcp .venv/agent .venv/client; do
  [[ -x $venv/bin/python ]] || { echo "missing $venv: run 'make local' (or 'make install'), which installs it" >&2; exit 2; }
done
case $LOG_FORMAT in
  text|json) ;;
  *) echo "LOCAL_LOG_FORMAT=$LOG_FORMAT: expected text or json" >&2; exit 2 ;;
esac

# Each process's output, rendered for a terminal unless LOCAL_LOG_FORMAT=json.
logs() {  # name
  if [[ $LOG_FORMAT == text ]]; then "$KIT" logs "$1"; else cat; fi
}
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

if [[ $MODEL_PROVIDER == bedrock && -z ${MODEL_API_KEY:-} ]] && \
  ! .venv/agent/bin/python -c "import boto3, sys; sys.exit(0 if boto3.Session().get_credentials() else 1)" 2>/dev/null; then
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

# MODEL_BASE_URL and MODEL_API_KEY reach the agent as exported (never printed).
# Process substitution, not a pipe: $! stays the server's pid (for wait and kill), and the
# formatter ends when the server closes its output.
(cd runtime_images/mcp_server && \
  MCP_HOST=127.0.0.1 MCP_PORT=$MCP_PORT TASK_STORE=sqlite RESULT_SINK=sqlite CALLER_IDENTITY=local \
  TASK_SQLITE_PATH="$STATE_DIR/tasks.sqlite3" RESULT_SINK_SQLITE_PATH="$ACTOR_RESULTS" \
  DATASET_ROOT="$STATE_DIR/data" exec ../../.venv/mcp/bin/python -m mcp_server) > >(logs mcp) 2>&1 &
pids+=($!)
wait_ping "http://127.0.0.1:$MCP_PORT/ping" "the MCP server" "${pids[0]}"

(cd runtime_images/agent && \
  HOST=127.0.0.1 PORT=$AGENT_PORT MODEL_PROVIDER=$MODEL_PROVIDER MODEL_ID=$MODEL_ID MCP_AUTH=none \
  MCP_RUNTIME_URL="http://127.0.0.1:$MCP_PORT/mcp" ACTOR_ID_FROM_REQUEST=true \
  LOCAL_STATE_DIR="$STATE_DIR/agent" RESULT_SINK_SQLITE_PATH="$ACTOR_RESULTS" \
  exec ../../.venv/agent/bin/python -m agent) > >(logs agent) 2>&1 &
pids+=($!)
wait_ping "http://127.0.0.1:$AGENT_PORT/ping" "the agent" "${pids[1]}"

cat <<MSG
MCP server  http://127.0.0.1:$MCP_PORT/mcp   MCP_PORT=$MCP_PORT (tasks: $STATE_DIR/tasks.sqlite3, results: $STATE_DIR/results.sqlite3)
agent       http://127.0.0.1:$AGENT_PORT/invocations   AGENT_PORT=$AGENT_PORT
model       $MODEL_PROVIDER $MODEL_ID${MODEL_BASE_URL:+ at $MODEL_BASE_URL}
kit finds them with (in another shell; the defaults need nothing):
  export KIT_MCP_URL=http://127.0.0.1:$MCP_PORT/mcp KIT_LOCAL_URL=http://127.0.0.1:$AGENT_PORT
talk to the agent:  $KIT ask "Summarize sales.csv by region"
tasks, no model:    $KIT tasks start summarize_csv --arg path=sales.csv --arg value_column=amount --arg group_by=region --watch
                    $KIT tasks list;  $KIT tasks --help
logs below: $LOG_FORMAT (LOCAL_LOG_FORMAT=json for the raw JSON lines). Ctrl-C stops both.
MSG
wait -n "${pids[@]}"
