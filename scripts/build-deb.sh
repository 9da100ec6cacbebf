#!/usr/bin/env bash
# Builds the Debian package of filter-rules from this checkout, in a few seconds:
#
#   scripts/build-deb.sh [-o OUTDIR]      prints the path of the .deb last
#
# makes OUTDIR/filter-rules_VERSION-REVISION_ARCH.deb (OUTDIR: dist/; REVISION: 1, or
# DEB_REVISION; ARCH: `dpkg --print-architecture`) with
#   /usr/lib/filter-rules                   package.json, dist/src (the .js) and the production
#                                           node_modules (scripts/deb/stage-app.mjs)
#   /usr/bin/filter-rules                   runs it with /usr/bin/node (packaging/deb/filter-rules.sh)
#   /usr/libexec/opensmtpd/filter-rules     a link to it, so smtpd.conf can say
#                                           proc-exec "filter-rules /etc/mail/antispam.rules"
#   /usr/share/man/man5, man8               the man pages, gzipped
#   /usr/share/doc/filter-rules             README, the rules reference, copyright, changelog,
#                                           examples/ (rules/*.rules and examples/*)
# and the maintainer scripts of packaging/deb: postinst makes /var/lib/filter-rules
# (opensmtpd:opensmtpd 0750), postrm purge deletes it. No file under /etc.
#
# What it needs, and what it does not touch:
#   - a fresh build (npx tsc -p tsconfig.json) and node_modules as `npm ci` left them, made with
#     the node the package will run on: better-sqlite3's native module is built for that node's
#     ABI, so the package depends on that major version of nodejs (>= 20.19 for 20).
#     Both are read, never changed: the package is laid out in a temporary directory.
#   - dpkg-deb (dpkg) and dpkg-shlibdeps (dpkg-dev: the native module's library dependencies).
#   - no root: files are root's in the package (dpkg-deb --root-owner-group).
# DEB_COMPRESS: dpkg-deb's compression options (default -Zxz -z1).
# Before it builds, it runs the staged program (--version, check on the default rules, an
# in-memory SQLite database) with that node, so a package that cannot start is never made.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUTDIR=$ROOT/dist

usage() { echo "usage: scripts/build-deb.sh [-o OUTDIR]" >&2; exit 2; }
die() { printf 'build-deb: %s\n' "$*" >&2; exit 1; }

while getopts 'o:h' opt; do
  case "$opt" in
    o) OUTDIR=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ "$#" -eq 0 ] || usage

for tool in dpkg-deb dpkg-shlibdeps node gzip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (dpkg-shlibdeps is in dpkg-dev: apt-get install dpkg-dev)"
done

NODE=$(command -v node)
VERSION=$(node -p 'require("./package.json").version')
DEB_VERSION="$VERSION-${DEB_REVISION:-1}"
ARCH=$(dpkg --print-architecture)
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
# engines.node says >= 20.19; a newer major is its own lower bound.
if [ "$NODE_MAJOR" -eq 20 ]; then NODE_MIN=20.19; else NODE_MIN=$NODE_MAJOR; fi
# Timestamps and the changelog date from the last commit, so two builds of one commit agree.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
# `-dirty` when tracked files differ from that commit.
COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
MAINTAINER="${DEBFULLNAME:-filter-rules local build} <${DEBEMAIL:-root@localhost}>"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/filter-rules-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PKG=$WORK/root
APP=$PKG/usr/lib/filter-rules
DOC=$PKG/usr/share/doc/filter-rules

# The program and its production dependencies (refuses a stale build or node_modules).
mkdir -p "$PKG/DEBIAN" "$DOC"
node scripts/deb/stage-app.mjs "$ROOT" "$APP" "$DOC/copyright" >&2

install -D -m 0755 packaging/deb/filter-rules.sh "$PKG/usr/bin/filter-rules"
mkdir -p "$PKG/usr/libexec/opensmtpd"
ln -s ../../bin/filter-rules "$PKG/usr/libexec/opensmtpd/filter-rules"

for page in man/*.[0-9]; do
  section=${page##*.}
  mkdir -p "$PKG/usr/share/man/man$section"
  gzip -9n <"$page" >"$PKG/usr/share/man/man$section/$(basename "$page").gz"
done

gzip -9n <README.md >"$DOC/README.md.gz"
gzip -9n <grammar/REFERENCE.md >"$DOC/REFERENCE.md.gz"
mkdir -p "$DOC/examples"
cp rules/*.rules "$DOC/examples/"
cp -R examples/. "$DOC/examples/"
{
  printf 'filter-rules (%s) unstable; urgency=medium\n\n' "$DEB_VERSION"
  printf '  * Built by scripts/build-deb.sh from commit %s, for nodejs %s.\n\n' "$COMMIT" "$NODE_MAJOR"
  printf ' -- %s  %s\n' "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$DOC/changelog.Debian.gz"

install -m 0755 packaging/deb/postinst packaging/deb/postrm "$PKG/DEBIAN/"
install -m 0644 packaging/deb/triggers "$PKG/DEBIAN/"

# The staged program must start with this node before it is packed.
"$NODE" "$APP/dist/src/cli/main.js" --version >/dev/null || die "the staged program does not start with $NODE"
"$NODE" "$APP/dist/src/cli/main.js" check rules/default.rules >/dev/null || die "the staged program rejects rules/default.rules"
"$NODE" -e 'new (require(process.argv[1]))(":memory:").prepare("select 1").get()' "$APP/node_modules/better-sqlite3" \
  || die "the staged better-sqlite3 does not load in $NODE (node_modules built for another node? run npm ci)"

# Library dependencies of the native modules, as dpkg-shlibdeps finds them (libc6, libstdc++6).
mkdir -p "$WORK/debian"
printf 'Source: filter-rules\n\nPackage: filter-rules\nArchitecture: any\n' >"$WORK/debian/control"
mapfile -t natives < <(find "$APP" -name '*.node' -type f)
[ "${#natives[@]}" -gt 0 ] || die "no native module in $APP/node_modules"
# The V8 symbols the module takes from node itself are in no library: warnings 0.
shlibs=$(cd "$WORK" && dpkg-shlibdeps --warnings=0 -O "${natives[@]}" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no library dependencies for ${natives[*]}"

# Debian wants 0755 directories, 0644 files, executables 0755; dates clamped to the commit.
find "$PKG" -type d -exec chmod 0755 {} +
find "$PKG" -type f -perm /111 -exec chmod 0755 {} +
find "$PKG" -type f ! -perm /111 -exec chmod 0644 {} +
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$PKG/DEBIAN/md5sums"
chmod 0644 "$PKG/DEBIAN/md5sums"

cat >"$PKG/DEBIAN/control" <<EOF
Package: filter-rules
Version: $DEB_VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
Depends: nodejs (>= $NODE_MIN), nodejs (<< $((NODE_MAJOR + 1))), $shlibs
Enhances: opensmtpd
Section: mail
Priority: optional
Description: OpenSMTPD filter for declarative anti-spam rules
 One OpenSMTPD filter (smtpd-filters(7), proc-exec) that runs a small rules
 language: pre-greeting pause, reject, disconnect or junk by client address,
 reverse DNS, HELO, sender and recipient, Postfix policy servers such as
 postgrey, built-in greylisting with SQLite or Redis, and hot reload.
 .
 With this package, smtpd.conf can name it without a path:
 filter "rules" proc-exec "filter-rules /etc/mail/antispam.rules".
 Example rules are in /usr/share/doc/filter-rules/examples.
EOF
find "$PKG" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUTDIR"
DEB=$OUTDIR/filter-rules_${DEB_VERSION}_${ARCH}.deb
# xz -1: a third larger than xz's default and four times faster (2 s here, not 11 s).
read -r -a compress <<<"${DEB_COMPRESS:--Zxz -z1}"
dpkg-deb --root-owner-group "${compress[@]}" --build "$PKG" "$DEB" >&2
echo "$DEB"
