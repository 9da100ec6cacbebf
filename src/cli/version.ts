/** The package version, read from package.json next to dist/ (so it cannot drift from the release). */
import { readFileSync } from 'node:fs';

export function packageVersion(read: (url: URL) => string = (url) => readFileSync(url, 'utf8')): string {
  try {
    // dist/src/cli/version.js → package.json at the package root.
    const pkg: unknown = JSON.parse(read(new URL('../../../package.json', import.meta.url)));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') return pkg.version;
  } catch {
    // Fall through: a broken install still runs; the version is only informative.
  }
  return 'unknown';
}
