#!/usr/bin/env bash
# Run Wildcat on its embedded defaults: SQLite, a file-based broker and cache, no servers to install.
# Starts the web server (admin + API), a sessions worker, a general worker and beat; Ctrl-C stops all.
# Prints a line per step. Webhooks to loopback receivers (this machine) are allowed here, and only here:
# WILDCAT_WEBHOOK_ALLOWED_NETWORKS= (set, empty) keeps the production guard.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "[run] $*"; }
scripts/bootstrap.sh

export WILDCAT_DATA_DIR=${WILDCAT_DATA_DIR:-$PWD/data}
mkdir -p "$WILDCAT_DATA_DIR/logs"
secret_file="$WILDCAT_DATA_DIR/secret_key"
if [ -z "${WILDCAT_SECRET_KEY:-}" ]; then
  if [ ! -s "$secret_file" ]; then
    (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$secret_file")
  fi
  export WILDCAT_SECRET_KEY_FILE=$secret_file
fi
encryption_file="$WILDCAT_DATA_DIR/encryption_key"
if [ -z "${WILDCAT_ENCRYPTION_KEY:-}" ]; then
  if [ ! -s "$encryption_file" ]; then
    (umask 077; .venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > "$encryption_file")
  fi
  export WILDCAT_ENCRYPTION_KEY_FILE=$encryption_file
fi
export PROMETHEUS_MULTIPROC_DIR=$WILDCAT_DATA_DIR/metrics
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
PORT=${WILDCAT_PORT:-8000}
HOST=${WILDCAT_HOST:-127.0.0.1}
export WILDCAT_PUBLIC_URL=${WILDCAT_PUBLIC_URL:-http://$HOST:$PORT}
# A newcomer's first webhook receiver runs on this machine; production (no make run) allows no private address.
if [ -z "${WILDCAT_WEBHOOK_ALLOWED_NETWORKS+set}" ]; then
  export WILDCAT_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8,::1/128
  webhook_line="Webhooks:  loopback receivers are allowed on this local run (http://127.0.0.1:<port>/...);
             start with WILDCAT_WEBHOOK_ALLOWED_NETWORKS= (empty) to refuse them, as production does."
else
  webhook_line="Webhooks:  private networks allowed: ${WILDCAT_WEBHOOK_ALLOWED_NETWORKS:-none} (WILDCAT_WEBHOOK_ALLOWED_NETWORKS)"
fi

PY=.venv/bin/python
step "applying database migrations ($WILDCAT_DATA_DIR)"
$PY manage.py migrate --noinput -v0
step "collecting static files"
$PY manage.py collectstatic --noinput -v0
step "making sure an admin login exists"
admin_line=$($PY manage.py ensureadmin)

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

logs=$WILDCAT_DATA_DIR/logs
step "starting the web server on $HOST:$PORT (gunicorn; log: $logs/web.log)"
.venv/bin/gunicorn wildcat.wsgi:application --bind "$HOST:$PORT" --workers 2 --threads 4 \
  --access-logfile - >>"$logs/web.log" 2>&1 & pids+=($!)
step "starting the sessions worker (WhatsApp sessions; log: $logs/worker-sessions.log)"
$PY -m celery -A wildcat worker -n sessions@%h -Q sessions -P threads -c 4 -l INFO >>"$logs/worker-sessions.log" 2>&1 & pids+=($!)
step "starting the general worker (webhooks and housekeeping; log: $logs/worker-general.log)"
$PY -m celery -A wildcat worker -n general@%h -Q default,webhooks -P threads -c 8 -l INFO >>"$logs/worker-general.log" 2>&1 & pids+=($!)
step "starting beat (schedules; log: $logs/beat.log)"
$PY -m celery -A wildcat beat -s "$WILDCAT_DATA_DIR/celerybeat-schedule" -l INFO >>"$logs/beat.log" 2>&1 & pids+=($!)

step "waiting for the web server to answer /healthz"
started=$SECONDS
healthy=false
for _ in $(seq 1 60); do
  if curl -fs "http://$HOST:$PORT/healthz" >/dev/null 2>&1; then healthy=true; break; fi
  sleep 0.5
done
if $healthy; then
  step "healthy after $((SECONDS - started)) s"
else
  step "no answer from /healthz after $((SECONDS - started)) s; still starting? see $logs/web.log"
fi
cat <<MSG

Wildcat is running.
  Admin:     $WILDCAT_PUBLIC_URL/admin/
  API:       $WILDCAT_PUBLIC_URL/api/v1/   (docs: $WILDCAT_PUBLIC_URL/api/docs/)
  Readiness: $WILDCAT_PUBLIC_URL/readyz
  $webhook_line
  $admin_line
  First API key: create one in the admin (API keys > Add), or run
      .venv/bin/python manage.py createapikey --label my-app
  Logs: $logs/   Data: $WILDCAT_DATA_DIR/
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
echo "a Wildcat process exited; stopping the others (see $logs/)" >&2
