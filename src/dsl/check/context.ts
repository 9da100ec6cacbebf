/**
 * What every check of the table (index.ts) reads and writes: the converted
 * file, the one Report, and the list uses the conditions record for the
 * list-uses check (W001) that runs after them.
 */
import type { FieldName } from '../../conditions/fields.js';
import type { SourceSpan } from '../../model/span.js';
import type { ListDecl, RulesFile } from '../ast.js';
import type { ConvertedChain } from '../convert.js';
import { EMPTY_LIST, type ReadFile, type ResolvedList, type ResolveResult } from '../lists.js';
import type { ConvertedStep } from '../convert.js';
import type { Report } from './report.js';

/** The rules file after convert: what `check` is given. */
export interface ConvertedFile {
  readonly ast: RulesFile;
  /** The chains of `ast`, converted (dsl/convert.ts). */
  readonly chains: readonly ConvertedChain[];
  readonly lists: ResolveResult;
  /** The rules file's text, to tell an empty file from one without chains. */
  readonly text: string;
  readonly dataLineRegistered: boolean;
  /** Reads the files steps load (check/loads.ts). */
  readonly readFile: ReadFile;
}

export interface CheckContext {
  readonly file: ConvertedFile;
  readonly report: Report;
  /** First declaration of each list name. */
  readonly listsByName: ReadonlyMap<string, ListDecl>;
  /** Uses seen per declaration and field tested against it (the first span is kept). */
  readonly uses: Map<ListDecl, Map<FieldName, SourceSpan>>;
  /** The text each step's `loads` read and its definition accepted (check/loads.ts), for compile. */
  readonly loaded: Map<ConvertedStep, string>;
  /** Every file a step loads, readable or not, as shown: watched for reloads. */
  readonly loadedFiles: Set<string>;
}

export function contextOf(file: ConvertedFile, report: Report): CheckContext {
  const listsByName = new Map<string, ListDecl>();
  for (const l of file.ast.lists) if (!listsByName.has(l.name.name)) listsByName.set(l.name.name, l);
  return { file, report, listsByName, uses: new Map(), loaded: new Map(), loadedFiles: new Set() };
}

export function resolvedOf(ctx: CheckContext, decl: ListDecl): ResolvedList {
  return ctx.file.lists.byDecl.get(decl) ?? EMPTY_LIST;
}
