/** The file as a whole: it has a chain (E007), and no list or chain name twice (E011, E012). */
import type { SourceSpan } from '../../model/span.js';
import type { CheckContext } from './context.js';

export function checkHasChains({ file, report }: CheckContext): void {
  if (file.ast.chains.length > 0) return;
  const span = { file: file.ast.file, line: 1, column: 1, endLine: 1, endColumn: 1 };
  const blank = file.text.replace(/#[^\r\n]*/g, '').trim() === '';
  if (blank) report('E007', span, 'the rules file is empty: there is no chain', { hint: 'add a chain, e.g. `chain main = pause 3s`' });
  else report('E007', span, 'the rules file defines no chain', { hint: 'add a chain, e.g. `chain main = pause 3s`' });
}

export function checkDuplicateNames({ file, report }: CheckContext): void {
  const seen = new Map<string, SourceSpan>();
  for (const l of file.ast.lists) {
    const first = seen.get(l.name.name);
    if (first === undefined) seen.set(l.name.name, l.name.span);
    else report('E011', l.name.span, `list "${l.name.name}" is defined twice`, { related: [{ span: first, message: 'first defined here' }], hint: 'rename one of them or merge their items' });
  }
  const chains = new Map<string, SourceSpan>();
  for (const c of file.ast.chains) {
    const first = chains.get(c.name.name);
    if (first === undefined) chains.set(c.name.name, c.name.span);
    else report('E012', c.name.span, `chain "${c.name.name}" is defined twice`, { related: [{ span: first, message: 'first defined here' }] });
  }
}

export function checkFile(ctx: CheckContext): void {
  checkHasChains(ctx);
  checkDuplicateNames(ctx);
}
