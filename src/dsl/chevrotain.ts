/**
 * chevrotain, loaded from its single-file bundle.
 *
 * The package entry (lib/src/api.js) pulls in lodash-es as ~640 separate
 * modules: about 30 MB of resident memory and half a second at every filter
 * start. The package ships the same code as one ES module, lib/chevrotain.mjs
 * (~5 MB), but its `exports` map does not name it, so it is found from the
 * entry's resolved path. Every DSL module takes chevrotain's values from here
 * (types may still come from 'chevrotain'): one copy only, so the `instanceof`
 * checks over the grammar (ebnf.ts) see the classes the parser built with.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type * as Chevrotain from 'chevrotain';

const entry = pathToFileURL(createRequire(import.meta.url).resolve('chevrotain'));
const chevrotain = (await import(new URL('../chevrotain.mjs', entry).href)) as typeof Chevrotain;

export const {
  Alternation,
  Alternative,
  CstParser,
  EOF,
  Lexer,
  NonTerminal,
  Option,
  Repetition,
  RepetitionMandatory,
  RepetitionMandatoryWithSeparator,
  RepetitionWithSeparator,
  Rule,
  Terminal,
  createSyntaxDiagramsCode,
  createToken,
  serializeGrammar,
  tokenMatcher,
} = chevrotain;
