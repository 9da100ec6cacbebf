/**
 * Regular expressions for attacker-controlled input. Patterns are compiled
 * with re2js, a port of RE2: matching is linear in the input, so a pattern
 * like `^(a+)+$` cannot be made to stall the filter by a hostile HELO.
 * The price is RE2's syntax: no backreferences and no lookaround.
 */
import { RE2JS } from 're2js';
import { err, ok, type Result } from './result.js';

export interface Matcher {
  readonly source: string;
  readonly flags: string;
  /** True when the pattern matches anywhere in `input` (use `^`/`$` to anchor). */
  test(input: string): boolean;
}

/** Flags a pattern may carry, and what they mean to RE2. */
const FLAG_BITS: Readonly<Record<string, number>> = {
  i: RE2JS.CASE_INSENSITIVE,
};

export const SUPPORTED_REGEX_FLAGS = Object.keys(FLAG_BITS);

/**
 * Why RE2 refused a construct people commonly write, in words they recognise.
 * Scans escapes and character classes so `\\1` or `[(?=]` are not mistaken.
 */
function explainUnsupported(source: string): string | null {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) {
        return `backreferences (\\${next}) are not supported: patterns run on RE2, which guarantees linear-time matching`;
      }
      if (!inClass && next === 'k' && source[i + 2] === '<') {
        return 'named backreferences (\\k<...>) are not supported: patterns run on RE2, which guarantees linear-time matching';
      }
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
      if (source[i + 1] === ']') i++;
    } else if (c === '(' && source[i + 1] === '?') {
      const look = /^\(\?(?:=|!|<=|<!)/.exec(source.slice(i));
      if (look !== null) {
        return `lookaround (${look[0]}...) is not supported: patterns run on RE2, which guarantees linear-time matching`;
      }
    }
  }
  return null;
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const withDescription = e as Error & { getDescription?: () => string; getPattern?: () => string | null };
    if (typeof withDescription.getDescription === 'function') {
      const pattern = typeof withDescription.getPattern === 'function' ? withDescription.getPattern() : null;
      const description = withDescription.getDescription();
      return pattern ? `${description}: \`${pattern}\`` : description;
    }
    return e.message;
  }
  return String(e);
}

/**
 * Compile `source` (the text between the slashes) with `flags` (e.g. `"i"`).
 * Failures are values: an unknown flag, RE2-unsupported syntax, or a malformed pattern.
 */
export function compileRegex(source: string, flags: string): Result<Matcher, string> {
  let bits = 0;
  const seen = new Set<string>();
  for (const f of flags) {
    const bit = FLAG_BITS[f];
    if (bit === undefined) {
      return err(`unknown regex flag "${f}" (supported: ${SUPPORTED_REGEX_FLAGS.join(', ')})`);
    }
    if (seen.has(f)) return err(`regex flag "${f}" given twice`);
    seen.add(f);
    bits |= bit;
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(source, bits);
  } catch (e) {
    return err(explainUnsupported(source) ?? `invalid regex: ${describe(e)}`);
  }
  return ok({
    source,
    flags,
    test: (input: string) => re.test(input),
  });
}
