# Shared by the host test scripts (host-tests.sh, host-openresty.sh,
# host-love.sh), sourced after `set -euo pipefail` with the script's first
# argument: the results file, the checkout as the working directory, the
# "ok - " / "not ok - " counters, starting and stopping nginx, and the closing
# summary.

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

# true if something already listens on 127.0.0.1:$1
port_in_use() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Starts nginx from the config template $1 on a free port, under $tmp/nginx
# and with ${host_env[@]}; sets $port and $nginx_pid. The template's @PREFIX@,
# @PORT@, @CPATH@, @LUA_PATH@ and @PLUGINS@ become $tmp/nginx, the port,
# $cpath, $lua_path and $plugins. A port taken between the probe and nginx's
# bind makes nginx exit, so retry with another one.
start_nginx() {
  local prefix="$tmp/nginx" template conf attempt i
  mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
  template=$(cat "$1")
  : > "$tmp/nginx-start.log"
  for attempt in 1 2 3 4 5; do
    # below Linux's ephemeral range (32768+), so outgoing connections rarely hold it
    port=$((20000 + RANDOM % 12000))
    port_in_use "$port" && continue
    conf=${template//@PREFIX@/$prefix}
    conf=${conf//@PORT@/$port}
    conf=${conf//@CPATH@/$cpath}
    conf=${conf//@LUA_PATH@/${lua_path:-}}
    conf=${conf//@PLUGINS@/$plugins}
    printf '%s\n' "$conf" > "$prefix/conf/nginx.conf"
    "${host_env[@]}" nginx -p "$prefix/" -c "$prefix/conf/nginx.conf" -e stderr \
      > "$tmp/nginx-start.log" 2>&1 < /dev/null &
    nginx_pid=$!
    # nginx writes its pid file once init_by_lua has run and the port is
    # bound; if either fails it exits, saying why
    for i in $(seq 100); do
      [ -s "$prefix/nginx.pid" ] && return 0
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$nginx_pid" 2>/dev/null; then
      echo "no pid file after 10s" >> "$tmp/nginx-start.log"
      stop_nginx || true
      return 1
    fi
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=
    grep -q 'Address already in use' "$tmp/nginx-start.log" || return 1
  done
  echo "no free port on 127.0.0.1 after 5 tries" >> "$tmp/nginx-start.log"
  return 1
}

# check_exit LABEL STATUS ERR_FILE [CODE=WHY]...: ok LABEL when STATUS is 0;
# else not ok, with what that status means (124 and 137: timeout's) and the
# process's stderr.
check_exit() {
  local label=$1 status=$2 err_file=$3 why="unexpected status" pair
  shift 3
  if [ "$status" -eq 0 ]; then
    ok "$label"
    return
  fi
  for pair in "124=timed out" "137=timed out" "$@"; do
    if [ "${pair%%=*}" = "$status" ]; then why=${pair#*=}; fi
  done
  not_ok "$label, got $status: $why"
  show "$err_file"
}

# check_output LABEL WANT FILE: ok LABEL when FILE holds exactly WANT (its
# last newline aside); else not ok, with what it holds.
check_output() {
  if [ "$(cat "$3")" = "$2" ]; then
    ok "$1"
  else
    not_ok "$1, got:"
    if [ -s "$3" ]; then show "$3"; else echo "    (nothing)"; fi
  fi
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
