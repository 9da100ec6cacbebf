#!/usr/bin/env bash
# filter-rules demo: a real OpenSMTPD on a private loopback with the filter and
# rules/default.rules (or the rules file given as argument), a few SMTP clients,
# the filter's log lines, then everything is torn down.
#
#   sudo scripts/demo.sh [RULES-FILE]
#
# Installs the dependencies first (scripts/install-deps.sh). Needs root: smtpd runs
# in its own mount and network namespaces (like the end-to-end tests, see
# test/e2e/harness/smtpd.ts), so nothing on this machine is touched and no port
# is opened outside. In that namespace 198.51.100.0/24 (TEST-NET-2, a
# documentation range, in nobody's trusted list) is made local, so clients can
# come from "outside" addresses; /etc/hosts there gives 198.51.100.9 the reverse
# name host-9.dsl.example.net.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo "$0" "$@"; fi
  echo "demo.sh: run as root (sudo scripts/demo.sh)" >&2
  exit 1
fi

RULES_SRC=${1:-rules/default.rules}
[ -f "$RULES_SRC" ] || { echo "demo.sh: no such rules file: $RULES_SRC" >&2; exit 1; }
RULES_SRC=$(cd "$(dirname "$RULES_SRC")" && pwd)/$(basename "$RULES_SRC")

bold() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n%s\n' "$*"; fi; }
note() { printf '  %s\n' "$*"; }

bold "Installing dependencies (scripts/install-deps.sh)"
bash scripts/install-deps.sh

PORT=25
WORK=$(mktemp -d /tmp/filter-rules-demo.XXXXXX)
chmod 755 "$WORK" # the filter runs as opensmtpd: 0700 would stop it from reading the rules
SMTPD_PID=

cleanup() {
  if [ -n "$SMTPD_PID" ] && kill -0 "$SMTPD_PID" 2>/dev/null; then
    kill -TERM "$SMTPD_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SMTPD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SMTPD_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- where smtpd's filter user can run the filter from --------------------------
FILTER_USER=opensmtpd
NODE=$(command -v node)
APP=$ROOT
if ! runuser -u "$FILTER_USER" -- test -r "$ROOT/dist/src/cli/main.js" \
  || ! runuser -u "$FILTER_USER" -- test -r "$ROOT/node_modules/.package-lock.json"; then
  note "$ROOT is not readable by $FILTER_USER: running a copy from $WORK/app"
  mkdir -p "$WORK/app/dist"
  cp -r "$ROOT/package.json" "$ROOT/node_modules" "$WORK/app/"
  cp -r "$ROOT/dist/src" "$WORK/app/dist/"
  chmod -R a+rX "$WORK/app"
  APP=$WORK/app
fi
if ! runuser -u "$FILTER_USER" -- test -x "$NODE"; then
  cp "$NODE" "$WORK/node" && chmod 755 "$WORK/node"
  NODE=$WORK/node
fi

cp "$RULES_SRC" "$WORK/demo.rules"
chmod 644 "$WORK/demo.rules"

cat >"$WORK/smtpd.conf" <<EOF
filter "rules" proc-exec "$NODE $APP/dist/src/cli/main.js $WORK/demo.rules"
listen on 127.0.0.1 port $PORT filter "rules"
action "local" maildir "$WORK/Maildir"
match from any for any action "local"
EOF
printf 'nameserver 127.0.0.1\n' >"$WORK/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost\n198.51.100.9 host-9.dsl.example.net\n' >"$WORK/hosts"

bold "Rules: $RULES_SRC"
sed 's/^/  | /' "$WORK/demo.rules"

bold "smtpd.conf"
sed 's/^/  | /' "$WORK/smtpd.conf"

# --- start smtpd in its own namespaces ------------------------------------------
setpriv --pdeathsig KILL unshare -m -n sh -c '
  set -e
  W=$1
  ip link set lo up
  ip addr add 198.51.100.1/24 dev lo
  if [ -e /etc/resolv.conf ]; then mount --bind "$W/resolv.conf" /etc/resolv.conf; fi
  mount --bind "$W/hosts" /etc/hosts
  mount -t tmpfs -o mode=0755 tmpfs /run
  mount -t tmpfs -o mode=0755 tmpfs /var/spool
  mkdir -m 0711 /var/spool/smtpd
  exec smtpd -d -f "$W/smtpd.conf"' sh "$WORK" >"$WORK/smtpd.log" 2>&1 &
SMTPD_PID=$!

in_ns() { nsenter -t "$SMTPD_PID" -n -- "$@"; }

bold "Starting smtpd (pid $SMTPD_PID) with the filter"
for _ in $(seq 150); do
  kill -0 "$SMTPD_PID" 2>/dev/null || { echo "smtpd exited:"; sed 's/^/  | /' "$WORK/smtpd.log"; exit 1; }
  # Poll for the listening socket: a test connection would be a real session.
  if in_ns ss -ltnH "sport = :$PORT" 2>/dev/null | grep -q LISTEN; then break; fi
  sleep 0.1
done
for _ in $(seq 100); do
  grep -q '^rules: ' "$WORK/smtpd.log" && break
  kill -0 "$SMTPD_PID" 2>/dev/null || break
  sleep 0.1
done
sleep 0.2
kill -0 "$SMTPD_PID" 2>/dev/null || { echo "smtpd exited:"; sed 's/^/  | /' "$WORK/smtpd.log"; exit 1; }
note "listening on 127.0.0.1:$PORT inside the namespace"

# swaks with the time to each reply (-stl), showing only the SMTP exchange.
client() {
  local started ended
  started=$(date +%s%N)
  in_ns swaks --server "127.0.0.1:$PORT" -stl --to nobody@localhost --quit-after RCPT "$@" 2>&1 \
    | grep -E '^(<-|<\*\*| ->|\*\*\*|=== response in)' \
    | sed 's/^=== response in \(.*\)$/     (reply after \1)/; s/^/  /' || true
  ended=$(date +%s%N)
  note "-- session took $(( (ended - started) / 1000000 )) ms"
}

bold "1. A trusted client (127.0.0.1): no pause"
client --from alice@example.org --ehlo mail.example.org

bold "2. An outside client (198.51.100.7): the banner waits for the pause"
client --local-interface 198.51.100.7 --from alice@example.org --ehlo mail.example.org

bold "3. An outside client greeting with a bare IP address: rejected"
client --local-interface 198.51.100.7 --from alice@example.org --ehlo 198.51.100.7

bold "4. An outside client with a dynamic-looking rDNS (host-9.dsl.example.net)"
note "(junk is invisible to the client: smtpd adds X-Spam: Yes to its messages; see the log below)"
client --local-interface 198.51.100.9 --from alice@example.org --ehlo host-9.dsl.example.net

bold "5. An early talker: two commands sent before the banner"
note "smtpd reads nothing before the banner, then drops the client; the filter logs it"
printf 'EHLO early.example\r\nMAIL FROM:<a@example.org>\r\n' \
  | in_ns socat -t 10 - "TCP:127.0.0.1:$PORT,bind=198.51.100.8" | sed 's/^/  <-  /' || true

sleep 0.3
bold "The filter's log lines (smtpd logs the filter's stderr as \"rules: ...\")"
note "(JSON lines from pino, condensed here; paths relative to $WORK)"
grep '^rules: ' "$WORK/smtpd.log" | sed 's/^rules: //' | WORK="$WORK/" "$NODE" -e '
  const work = process.env.WORK;
  const clean = (v) => (typeof v === "string" ? v : JSON.stringify(v)).split(work).join("");
  for (const line of require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean)) {
    let o;
    try { o = JSON.parse(line); } catch { console.log("  " + line); continue; }
    const { level, time, msg, pid, hostname, ...rest } = o;
    const t = typeof time === "string" ? time.slice(11, 23) : typeof time === "number" ? new Date(time).toISOString().slice(11, 23) : "";
    const inline = [];
    const lists = [];
    for (const [k, v] of Object.entries(rest)) {
      if (Array.isArray(v) && v.some((x) => String(x).length > 24)) lists.push([k, v]);
      else inline.push(`${k}=${Array.isArray(v) ? v.map(clean).join(",") : clean(v)}`);
    }
    console.log(`  ${t} ${String(level).padEnd(5)} ${msg ?? ""}: ${inline.join(" ")}`);
    for (const [k, v] of lists) for (const item of v) console.log(`        ${k}: ${clean(item)}`);
  }'

bold "smtpd's own session log"
grep -E ' smtp (connected|disconnected|failed-command)' "$WORK/smtpd.log" | sed 's/^/  /' || true

bold "Stopping smtpd"
kill -TERM "$SMTPD_PID"
for _ in $(seq 50); do kill -0 "$SMTPD_PID" 2>/dev/null || break; sleep 0.1; done
note "done; the namespace and $WORK are gone"
