#!/usr/bin/env node
// Lays out the application part of the Debian package (scripts/build-deb.sh calls it):
//
//   node scripts/deb/stage-app.mjs ROOT APPDIR COPYRIGHT
//
// copies into APPDIR (the package's /usr/lib/filter-rules) what `npm ci --omit=dev` would
// leave in a checkout, from ROOT's own build and install, read-only:
//   - package.json (the program reads its version there, and "type": "module"),
//   - dist/src/**/*.js (no source maps: the TypeScript they point to is not shipped),
//   - node_modules: the packages package-lock.json does not mark `dev`, each at the version
//     the lock names, less what nothing loads at run time: source maps, TypeScript (sources
//     and declarations), and what only building better-sqlite3 needs (its C sources and
//     build tree; the native module build/Release/better_sqlite3.node stays);
// and writes COPYRIGHT, the package's machine-readable copyright file (DEP-5), naming the
// licence each bundled package declares.
//
// Refuses a stale build (a .ts newer than its .js) and a node_modules that does not match
// package-lock.json, so a package is never built from something other than the checkout.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What is dropped from a bundled package, by its path in the lock: files and directories
 * (relative to the package) that nothing loads at run time.
 */
export const PRUNE = {
  // The SQLite amalgamation, the addon's C++ and node-gyp's build tree (objects, a static
  // sqlite3.a, a test extension): 27 MB. The addon is found by `bindings` in build/Release.
  'node_modules/better-sqlite3': ['deps', 'src', 'binding.gyp', 'build/Makefile', 'build/config.gypi', 'build/deps', 'build/Release/obj', 'build/Release/obj.target', 'build/Release/.deps', 'build/Release/sqlite3.a', 'build/Release/test_extension.node', 'build/binding.Makefile', 'build/better_sqlite3.target.mk', 'build/test_extension.target.mk'],
};

/** Files of any bundled package that nothing loads at run time (node reads .js, .json, .node). */
export const UNUSED_FILE = /\.(map|ts|mts|cts)$/;

/** The production packages of a package-lock.json (v2/v3): path, name, version, declared licence. */
export function productionPackages(lock) {
  if (typeof lock !== 'object' || lock === null || typeof lock.packages !== 'object') {
    throw new Error('package-lock.json has no "packages" (lockfileVersion 2 or 3 needed)');
  }
  const out = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true || entry.link === true) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    out.push({ path, name, version: entry.version ?? '', license: entry.license ?? 'UNKNOWN', optional: entry.optional === true });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** .ts files under src/ whose compiled .js is missing or older. */
export function staleSources(root) {
  const stale = [];
  for (const ts of walk(join(root, 'src')).filter((f) => f.endsWith('.ts'))) {
    const js = join(root, 'dist', relative(root, ts)).replace(/\.ts$/, '.js');
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(ts).mtimeMs) stale.push(relative(root, ts));
  }
  return stale;
}

/** The first `Copyright …` line of a package's licence file, or null. */
function copyrightLine(dir) {
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  if (file === undefined) return null;
  // A notice with a year; not the Apache licence's own "Copyright [yyyy] [name of copyright owner]".
  const line = readFileSync(join(dir, file), 'utf8').split('\n').find((l) => /^\s*copyright\s*(\(c\)|©|\d{4})/i.test(l));
  return line === undefined ? null : line.trim().replace(/^copyright\s*(\(c\)|©)?\s*/i, '');
}

/** Copies the production packages of `root` into `appDir`/node_modules; returns them with their copyright lines. */
export function stageModules(root, appDir) {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const bundled = [];
  const problems = [];
  for (const pkg of productionPackages(lock)) {
    const from = join(root, pkg.path);
    if (!existsSync(from)) {
      if (!pkg.optional) problems.push(`${pkg.path} is missing`);
      continue;
    }
    const installed = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')).version;
    if (installed !== pkg.version) problems.push(`${pkg.path} is ${installed}, the lock says ${pkg.version}`);
    const pruned = new Set((PRUNE[pkg.path] ?? []).map((p) => join(from, p)));
    cpSync(from, join(appDir, pkg.path), {
      recursive: true,
      dereference: true,
      // Nested node_modules are packages of their own in the lock, staged (or not) by their own entry.
      filter: (src) => !pruned.has(src) && !UNUSED_FILE.test(src) && !relative(from, src).split(sep).includes('node_modules'),
    });
    bundled.push({ ...pkg, copyright: copyrightLine(from) });
  }
  if (problems.length > 0) {
    throw new Error(`node_modules does not match package-lock.json (run npm ci):\n  ${problems.join('\n  ')}`);
  }
  return bundled;
}

const ISC = `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`;

/** DEP-5 continuation lines: each line indented by one space, empty lines as ` .`. */
function indent(text) {
  return text.split('\n').map((l) => (l === '' ? ' .' : ` ${l}`)).join('\n');
}

/** The package's /usr/share/doc/filter-rules/copyright (machine-readable format 1.0). */
export function copyrightText({ license, bundled }) {
  if (license !== 'ISC') throw new Error(`package.json says license ${license}; copyrightText knows the ISC text only`);
  const paragraphs = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: filter-rules',
      'Comment: The npm packages bundled under /usr/lib/filter-rules/node_modules are',
      ' listed below with the licence each declares in its package.json; the full',
      ' text is the licence file in that package\'s directory. Apache-2.0 is also in',
      ' /usr/share/common-licenses/Apache-2.0.',
    ].join('\n'),
    ['Files: *', 'Copyright: the filter-rules authors', 'License: ISC'].join('\n'),
    ...bundled.map((b) =>
      [
        `Files: usr/lib/filter-rules/${b.path}/*`,
        `Copyright: ${b.copyright ?? `the authors of ${b.name}`}`,
        `License: ${b.license}`,
        `Comment: ${b.name} ${b.version}; the licence text is in its directory.`,
      ].join('\n'),
    ),
    `License: ISC\n${indent(ISC)}`,
  ];
  return `${paragraphs.join('\n\n')}\n`;
}

/** Everything under dist/src that the program loads: the .js files. */
function stageDist(root, appDir) {
  const from = join(root, 'dist', 'src');
  if (!existsSync(join(from, 'cli', 'main.js'))) throw new Error(`no build in ${from}: run npx tsc -p tsconfig.json`);
  for (const js of walk(from).filter((f) => f.endsWith('.js'))) {
    const to = join(appDir, relative(root, js));
    mkdirSync(dirname(to), { recursive: true });
    cpSync(js, to);
  }
}

export function stageApp(root, appDir, copyrightFile) {
  const stale = staleSources(root);
  if (stale.length > 0) {
    throw new Error(`the build is older than its sources (run npx tsc -p tsconfig.json): ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', …' : ''}`);
  }
  mkdirSync(appDir, { recursive: true });
  cpSync(join(root, 'package.json'), join(appDir, 'package.json'));
  stageDist(root, appDir);
  const bundled = stageModules(root, appDir);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  writeFileSync(copyrightFile, copyrightText({ license: pkg.license, bundled }));
  return bundled;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [root, appDir, copyrightFile] = process.argv.slice(2);
  if (root === undefined || appDir === undefined || copyrightFile === undefined) {
    console.error('usage: node scripts/deb/stage-app.mjs ROOT APPDIR COPYRIGHT');
    process.exit(2);
  }
  try {
    const bundled = stageApp(root, appDir, copyrightFile);
    console.log(`staged dist/src and ${bundled.length} production packages in ${appDir}`);
  } catch (e) {
    console.error(`stage-app: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
