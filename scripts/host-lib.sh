# Shared by the host test scripts (host-tests.sh, host-openresty.sh,
# host-love.sh), sourced after `set -euo pipefail` with the script's first
# argument: the results file, the checkout as the working directory, the
# "ok - " / "not ok - " counters, stopping nginx, and the closing summary.

results=${1:-}
# a relative results path is relative to where the script was called from
case $results in
  "" | /*) ;;
  *) results="$PWD/$results" ;;
esac
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
# indents a file or stdin under a "not ok" line
show() { sed 's/^/    /' "$@" || true; }

# true while any of the given pids runs; a zombie (exited, not yet reaped by
# an init that may never reap it) counts as gone
alive() {
  ps -o stat= -p "$(IFS=,; echo "$*")" 2>/dev/null | awk 'NF && $1 !~ /^Z/ { up = 1 } END { exit !up }'
}

# Stops the nginx the script started ($nginx_pid; its pid file under
# $tmp/nginx once written): SIGTERM, then wait (bounded) until the master and
# its workers are gone; SIGKILL whatever is left. Returns non-zero if it had to kill.
stop_nginx() {
  local pid workers i status=0
  pid=$(cat "$tmp/nginx/nginx.pid" 2>/dev/null || echo "$nginx_pid")
  workers=$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ' | paste -sd, || true)
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do
    alive "$pid" ${workers:+"$workers"} || break
    sleep 0.1
  done
  if alive "$pid" ${workers:+"$workers"}; then
    kill -KILL "$pid" ${workers//,/ } 2>/dev/null || true
    status=1
  fi
  wait "$nginx_pid" 2>/dev/null || true # reap it
  nginx_pid=
  return "$status"
}

# Prints "<label>: N passed, M failed", appends "<label> N M" to the results
# file if there is one; fails if a check failed.
summary() {
  echo "$1: $passed passed, $failed failed"
  if [ -n "$results" ]; then
    echo "$1 $passed $failed" >> "$results"
  fi
  [ "$failed" -eq 0 ]
}
