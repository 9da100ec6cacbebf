/**
 * The files steps load at compile (a definition's `loads`: a DKIM key),
 * read through the pipeline's injected readFile relative to the rules file,
 * and checked by the definition. A file that cannot be read, or whose text
 * the definition refuses, is a located error at the option's value, so
 * `check` says so and a reload keeps the running rules. The texts go to
 * compile (valid.ts) and never into diagnostics: a key is a secret.
 */
import { isAbsolute, join, dirname } from 'node:path';
import type { ChainDecl } from '../ast.js';
import type { ConvertedStep } from '../convert.js';
import { FileRefused } from '../../support/read-file.js';
import { CODES, type Code } from '../codes.js';
import { errnoText } from '../lists.js';
import type { CheckContext } from './context.js';
import { viewOf } from './steps.js';

/** The path a step's `loads` option names, as diagnostics show it; null when the step loads none or its value did not parse. */
function pathOf(ctx: CheckContext, step: ConvertedStep): { readonly path: string; readonly span: ConvertedStep['node']['span'] } | null {
  const load = step.definition.loads;
  if (load === undefined) return null;
  const written = step.options.filter((o) => o.spec.name === load.option).at(-1);
  if (written === undefined || typeof written.value.value !== 'string') return null;
  const path = written.value.value;
  const span = written.value.node?.span ?? written.node.span;
  return { path: isAbsolute(path) ? path : join(dirname(ctx.file.ast.file), path), span };
}

/** A code of the catalogue's; another would be undocumented: a catalogue mistake, not the user's. */
function codeOf(step: ConvertedStep, code: string): Code {
  if (!Object.hasOwn(CODES, code)) throw new Error(`bug: ${step.definition.keyword} loads with ${code}, which is no diagnostic code`);
  return code as Code;
}

export function checkLoads(ctx: CheckContext, chain: ChainDecl, step: ConvertedStep): void {
  const load = step.definition.loads;
  const at = pathOf(ctx, step);
  if (load === undefined || at === null) return;
  ctx.loadedFiles.add(at.path);
  let text: string;
  try {
    text = ctx.file.readFile(at.path, 'key');
  } catch (e) {
    const why = e instanceof FileRefused ? e.message : errnoText(e);
    ctx.report(codeOf(step, load.unreadable), at.span, `cannot read ${load.what} "${at.path}": ${why}`);
    return;
  }
  const verdict = load.check(text, viewOf(chain, step));
  if (!verdict.ok) {
    ctx.report(codeOf(step, load.malformed), at.span, `${load.what} "${at.path}" ${verdict.message}`, verdict.hint === undefined ? {} : { hint: verdict.hint });
    return;
  }
  ctx.loaded.set(step, text);
}
