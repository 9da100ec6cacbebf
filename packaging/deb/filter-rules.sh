#!/bin/sh
# /usr/bin/filter-rules, from the Debian package: the program in /usr/lib/filter-rules, run
# with the system's node (the nodejs package's /usr/bin/node), the one whose ABI the bundled
# native module (better-sqlite3) was built for, whatever else is first on PATH.
exec /usr/bin/node /usr/lib/filter-rules/dist/src/cli/main.js "$@"
