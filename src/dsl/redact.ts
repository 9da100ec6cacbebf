/**
 * What a diagnostic may say about a line of a list file. A list path can name
 * any file the filter can read, smtpd's `secrets` table included, and a failed
 * reload goes to the mail log: so list-file lines are never quoted, in the
 * message or as a code frame. Instead an item is shown by its shape: letters
 * and digits become `x`, the characters that structure an address, domain or
 * range stay (`@ . : / - _ * [ ] "` and the space, which is where a stray blank
 * shows), anything else becomes `?`; at most SHAPE_CHARS of it, then `…`, and
 * the length. Enough to spot `xxxx@@xxxxxxx.xxx` or a blank in the middle of
 * an address at the line and column given; nothing of a password or key.
 */

/** Characters of an item's shape shown at most. */
export const SHAPE_CHARS = 24;

const KEPT = new Set(['@', '.', ':', '/', '-', '_', '*', '[', ']', '"', ' ']);

function maskChar(c: string): string {
  if (/^[A-Za-z0-9]$/.test(c)) return 'x';
  if (KEPT.has(c)) return c;
  return '?';
}

/** `"xxxx@xxxxxxx.xxx" (16 characters)`. Counts code points, as people do. */
export function itemShape(text: string): string {
  const chars = [...text];
  const shown = chars.slice(0, SHAPE_CHARS).map(maskChar).join('');
  const more = chars.length > SHAPE_CHARS ? '…' : '';
  return `"${shown}${more}" (${chars.length} character${chars.length === 1 ? '' : 's'})`;
}
