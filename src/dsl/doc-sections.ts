/**
 * The generated parts of the hand-written documents: the options table and
 * the reserved words of grammar/REFERENCE.md, the options table of
 * filter-rules.rules(5). Each lives between two marker comments; the text
 * around them stays as written. gen-grammar.ts writes them, the unit test
 * test/unit/dsl/grammar.test.ts fails when one is stale.
 *
 * Cells are written in a little Markdown (`code`, [text](#anchor)), as the
 * catalogue's doc strings are; the man page gets them as mdoc.
 *
 * Pure: strings in, strings out.
 */
import { COMMON_OPTIONS, allowedText, formatDefault, type OptionRow } from './signatures.js';
import type { OptionSpec } from '../steps/spec.js';

// --- markers ---------------------------------------------------------------

/** How a document marks a generated section. */
export interface MarkerStyle {
  start(name: string): string;
  readonly end: string;
}

export const MARKDOWN_MARKERS: MarkerStyle = {
  start: (name) => `<!-- generated: ${name} (node scripts/gen-grammar.mjs) -->`,
  end: '<!-- end generated -->',
};

export const ROFF_MARKERS: MarkerStyle = {
  start: (name) => `.\\" generated: ${name}`,
  end: '.\\" end generated',
};

/** Where the section `name` of `text` is: the offsets of its content, between the two markers. */
function sectionBounds(text: string, name: string, style: MarkerStyle): { readonly from: number; readonly to: number } {
  const start = style.start(name);
  const at = text.indexOf(start);
  if (at < 0) throw new Error(`no generated section "${name}": the marker ${start} is missing`);
  if (text.indexOf(start, at + 1) >= 0) throw new Error(`generated section "${name}" is marked twice`);
  const from = at + start.length;
  const to = text.indexOf(style.end, from);
  if (to < 0) throw new Error(`generated section "${name}" has no end marker ${style.end}`);
  return { from, to };
}

/** The content of a generated section, between its markers. */
export function sectionContent(text: string, name: string, style: MarkerStyle): string {
  const { from, to } = sectionBounds(text, name, style);
  return text.slice(from, to);
}

/** `text` with the content of section `name` replaced. */
export function replaceSection(text: string, name: string, style: MarkerStyle, content: string): string {
  const { from, to } = sectionBounds(text, name, style);
  return `${text.slice(0, from)}${content}${text.slice(to)}`;
}

// --- Markdown ----------------------------------------------------------------

/** A table cell: `|` would end it, even inside a code span. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** `delay DURATION`, `store "URL"`, `header`. */
function writtenOption(spec: OptionSpec): string {
  return spec.docName === '' ? spec.name : `${spec.name} ${spec.docName}`;
}

/** The options table of grammar/REFERENCE.md §3: the language's options, then the steps'. */
export function optionsMarkdown(rows: readonly OptionRow[]): string {
  const lines = ['| option | steps | default | allowed | meaning |', '|---|---|---|---|---|'];
  for (const o of COMMON_OPTIONS) lines.push(`| ${[`\`${o.written}\``, 'all', o.default, o.allowed, o.meaning].map(cell).join(' | ')} |`);
  for (const r of rows) {
    lines.push(`| ${[`\`${writtenOption(r.spec)}\``, r.steps.join(', '), formatDefault(r.spec), allowedText(r.spec) ?? '—', r.spec.doc.meaning].map(cell).join(' | ')} |`);
  }
  // Blank lines around the table: a marker line right before or after it would not end or start it.
  return `\n\n${lines.join('\n')}\n\n`;
}

/** The reserved words as one code span, wrapped to the width of REFERENCE.md's list item. */
export function reservedWordsMarkdown(words: readonly string[], width = 78, indent = '  '): string {
  const lines: string[] = [];
  let line = '';
  words.forEach((w, i) => {
    const piece = `${i === 0 ? '`' : ''}${w}${i === words.length - 1 ? '`' : ''}`;
    if (line !== '' && indent.length + line.length + 1 + piece.length > width) {
      lines.push(line);
      line = piece;
    } else {
      line = line === '' ? piece : `${line} ${piece}`;
    }
  });
  if (line !== '') lines.push(line);
  return `\n${lines.map((l) => `${indent}${l}`).join('\n')}`;
}

// --- mdoc --------------------------------------------------------------------

/** The few non-ASCII characters the doc strings use, as roff writes them; any other is refused. */
const ROFF_CHARS: Readonly<Record<string, string>> = { '…': '...', '≤': '\\(<=', '’': '\\(cq', '–': '\\(en', '—': '\\(em' };

function roffChars(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (c) => {
    const r = ROFF_CHARS[c];
    if (r === undefined) throw new Error(`doc-sections: no roff spelling for ${JSON.stringify(c)} in ${JSON.stringify(text)}`);
    return r;
  });
}

/** A word as a macro argument: literal even when it spells a macro name or a delimiter. */
function macroArgument(word: string): string {
  const escaped = roffChars(word.replace(/\\/g, '\\e').replace(/"/g, '\\(dq'));
  return /^[A-Z][a-z]{1,2}$/.test(word) || /^[.,:;()[\]?!|]$/.test(word) ? `\\&${escaped}` : escaped;
}

/**
 * Text lines: never a request (a leading `.` or `'`), never starting with a
 * space, and a new line for each new sentence (mdoc's rule: the end of a
 * sentence is the end of a line).
 */
function textLines(text: string): string[] {
  return roffChars(text.replace(/\\/g, '\\e'))
    .trim()
    .split(/(?<=[.!?][)\]"']*)\s+/)
    .map((t) => t.replace(/\s+/g, ' '))
    .filter((t) => t !== '')
    .map((t) => (/^[.']/.test(t) ? `\\&${t}` : t));
}

const OPENING = /[([]$/;
const CLOSING = /^[.,:;)\]?!]+(?=\s|$)/;

/**
 * A doc string (a little Markdown) as mdoc lines: code spans become `Ql`
 * with the punctuation around them as delimiters, links their text, the rest
 * text lines.
 */
export function mdocText(text: string): string[] {
  const plain = text.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
  const parts = plain.split('`');
  if (parts.length % 2 === 0) throw new Error(`doc-sections: unbalanced backticks in ${JSON.stringify(text)}`);
  const out: string[] = [];
  let pending = parts[0] ?? '';
  for (let i = 1; i < parts.length; i += 2) {
    const code = parts[i] ?? '';
    let after = parts[i + 1] ?? '';
    const open = OPENING.exec(pending.trimEnd() === pending ? pending : '')?.[0] ?? '';
    out.push(...textLines(open === '' ? pending : pending.slice(0, -open.length)));
    const close = CLOSING.exec(after)?.[0] ?? '';
    after = after.slice(close.length);
    const args = [...(open === '' ? [] : [open]), ...code.split(/\s+/).filter((w) => w !== '').map(macroArgument), ...close.split('')];
    out.push(`.Ql ${args.join(' ')}`);
    pending = after;
  }
  out.push(...textLines(pending));
  return out;
}

/** An option as the man page writes it: `Ic delay Ar duration`, `Ic store Ar "url"`, `Ic pregreet Ic disconnect Oo Ar "reply" Oc | Ic log`. */
function mdocOption(spec: OptionSpec): string {
  const value = spec.docName.match(/\[|\]|\||"[A-Z][A-Z-]*"|[A-Z][A-Z-]*|[a-z][a-z0-9-]*|\S+/g) ?? [];
  const macros = value.map((t) => {
    if (t === '[') return 'Oo';
    if (t === ']') return 'Oc';
    if (t === '|') return '|';
    if (/^"[A-Z][A-Z-]*"$/.test(t)) return `Ar \\(dq${t.slice(1, -1).toLowerCase()}\\(dq`;
    if (/^[A-Z][A-Z-]*$/.test(t)) return `Ar ${t.toLowerCase()}`;
    if (/^[a-z][a-z0-9-]*$/.test(t)) return `Ic ${t}`;
    throw new Error(`doc-sections: cannot write ${JSON.stringify(t)} of ${spec.name}'s docName ${JSON.stringify(spec.docName)} in mdoc`);
  });
  return ['Ic', spec.name, ...macros].join(' ');
}

/** `Default 5m; 1s … 1d, shorter than retry-window (E026). How long …`: the last column of the man page's table. */
function mdocLastCell(dflt: string, allowed: string | null, meaning: string): string[] {
  const sentence = (s: string): string => {
    const t = s.trim();
    const capital = t.charAt(0) === '`' ? t : `${t.charAt(0).toUpperCase()}${t.slice(1)}`;
    return /[.!?]$/.test(capital) ? capital : `${capital}.`;
  };
  return mdocText(`Default ${dflt}${allowed === null ? '' : `; ${allowed}`}. ${sentence(meaning)}`);
}

/** What a cell of the `.It` line shows, for the column widths: `Ic store Ar \(dqurl\(dq` shows `store "url"`. */
function shown(macros: string): string {
  const shows: Readonly<Record<string, string>> = { Ic: '', Ar: '', Oo: '[', Oc: ']' };
  return macros
    .split(' ')
    .map((w) => shows[w] ?? w)
    .filter((w) => w !== '')
    .join(' ')
    .replace(/\\\(dq/g, '"');
}

/** The `.Ss Options` table of filter-rules.rules(5): option, steps, then default, allowed values and meaning. */
export function optionsMdoc(rows: readonly OptionRow[], command: string): string {
  const items: { option: string; steps: string; rest: string[] }[] = [
    ...COMMON_OPTIONS.map((o) => {
      const [word = '', ...value] = o.written.split(' ');
      const args = value.join(' ').split('|');
      const option = ['Ic', word, ...args.flatMap((a, i) => [...(i === 0 ? [] : ['|']), /^[A-Z]+$/.test(a) ? `Ar ${a.toLowerCase()}` : `Ic ${a}`])].join(' ');
      return { option, steps: 'all', rest: mdocLastCell(o.default, o.allowed, o.meaning) };
    }),
    ...rows.map((r) => ({
      option: mdocOption(r.spec),
      steps: `Ic ${r.steps.join(' , ')}`,
      rest: mdocLastCell(formatDefault(r.spec), allowedText(r.spec), r.spec.doc.meaning),
    })),
  ];
  // Column widths from what the cells show; an option wider than 24 characters runs over and pushes its row down.
  const widest = (cells: readonly string[]): string => cells.filter((c) => c.length <= 24).reduce((a, b) => (b.length > a.length ? b : a), '');
  const optionWidth = widest(items.map((i) => shown(i.option)));
  const stepsWidth = widest(items.map((i) => shown(i.steps).replace(/ ,/g, ',')));
  const lines = [
    `.\\" From src/steps/catalogue.ts and src/dsl/signatures.ts by: ${command}`,
    `.Bl -column "${optionWidth}" "${stepsWidth}"`,
    '.It Sy option Ta Sy steps Ta Sy default, allowed values, meaning',
  ];
  for (const i of items) lines.push(`.It ${i.option} Ta ${i.steps} Ta`, ...i.rest);
  lines.push('.El');
  return `\n${lines.join('\n')}\n`;
}
