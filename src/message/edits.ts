/**
 * Edits of a message's header block, with the semantics of rspamd's milter
 * (rspamd_milter.c, as MTAs apply milter actions). Pure.
 *
 * Applied in this order, whatever order they are given in:
 * 1. `remove NAME INDEX`, against the header block as received (names
 *    without case): 0 removes every field of that name, N > 0 the Nth
 *    (1-based), N < 0 the Nth from the end (-1 the last); an index past the
 *    count removes nothing.
 * 2. `replace NAME`: the first field of that name becomes the new field and
 *    the others go (rewrite subject: the whole folded Subject); appended when
 *    there is none.
 * 3. `insert` and `append`, one after the other in the given order: `insert`
 *    at position N puts the field before the Nth field of the block as it
 *    stands then (0 and 1: at the top; past the end: at the end), as milter's
 *    insheader does; `append` puts it at the end of the block. Inserting
 *    several at one position stacks them, the last given on top, which keeps
 *    an ARC set that rspamd lists as AAR, AMS, AS in its order AS, AMS, AAR.
 */
import type { HeaderEdit, HeaderField } from '../model/message.js';
import { sameName } from './fields.js';

export function applyHeaderEdits(fields: readonly HeaderField[], edits: readonly HeaderEdit[]): HeaderField[] {
  const removed = new Set<number>();
  for (const edit of edits) {
    if (edit.type !== 'remove') continue;
    const positions: number[] = [];
    fields.forEach((f, i) => {
      if (sameName(f.name, edit.name)) positions.push(i);
    });
    if (edit.index === 0) for (const p of positions) removed.add(p);
    else {
      const at = edit.index > 0 ? positions[edit.index - 1] : positions[positions.length + edit.index];
      if (at !== undefined) removed.add(at);
    }
  }
  let out = fields.filter((_, i) => !removed.has(i));
  for (const edit of edits) {
    if (edit.type !== 'replace') continue;
    const first = out.findIndex((f) => sameName(f.name, edit.name));
    if (first === -1) {
      out.push(edit.field);
      continue;
    }
    out = out.flatMap((f, i) => (i === first ? [edit.field] : sameName(f.name, edit.name) ? [] : [f]));
  }
  for (const edit of edits) {
    if (edit.type === 'append') out.push(edit.field);
    else if (edit.type === 'insert') out.splice(Math.min(Math.max(edit.position - 1, 0), out.length), 0, edit.field);
  }
  return out;
}
