#!/usr/bin/env bash
# Installs the Debian 12 packages qtforge builds and tests with, only those missing.
# Run as root (or with sudo) it installs them; otherwise it prints the exact command.
# A second run finds everything present and installs nothing.
set -euo pipefail

# package -> a file that proves it is installed
declare -A PROBES=(
  [lua5.4]=/usr/bin/lua5.4
  [liblua5.4-dev]=/usr/include/lua5.4/lua.h
  [luajit2]=/usr/bin/luajit
  [libluajit2-5.1-dev]=/usr/include/luajit-2.1/lua.h
  [luarocks]=/usr/bin/luarocks
  [lua-busted]=/usr/bin/busted
  [lua-check]=/usr/bin/luacheck
  [nginx]=/usr/sbin/nginx
  [libnginx-mod-http-lua]=/usr/share/nginx/modules-available/mod-http-lua.conf
  [love]=/usr/bin/love
  [pkg-config]=/usr/bin/pkg-config
  [curl]=/usr/bin/curl
  [gcc]=/usr/bin/gcc
  [make]=/usr/bin/make
)

missing=()
for pkg in "${!PROBES[@]}"; do
  [ -e "${PROBES[$pkg]}" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

IFS=$'\n' sorted=($(sort <<<"${missing[*]}")); unset IFS
cmd=(apt-get install -y --no-install-recommends "${sorted[@]}")

if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo_cmd=(sudo)
else
  echo "qtforge needs these Debian packages; install them with:" >&2
  echo "  sudo apt-get update && sudo ${cmd[*]}" >&2
  exit 1
fi

echo "installing: ${sorted[*]}"
export DEBIAN_FRONTEND=noninteractive
# the package lists may be missing or stale on a fresh machine
if ! "${sudo_cmd[@]}" "${cmd[@]}" </dev/null; then
  "${sudo_cmd[@]}" apt-get update
  "${sudo_cmd[@]}" "${cmd[@]}" </dev/null
fi
