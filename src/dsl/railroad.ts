/**
 * Railroad diagrams of the grammar as one self-contained HTML file.
 * chevrotain's createSyntaxDiagramsCode links its scripts and stylesheet from
 * a CDN; here they are inlined from the installed chevrotain package, so the
 * page works offline and shows exactly the version the parser runs on.
 */
import { Alternation, Alternative, createSyntaxDiagramsCode, Rule, serializeGrammar, Terminal } from './chevrotain.js';
import type { ISerializedGast, TokenType } from 'chevrotain';

/** The files chevrotain's diagram page loads, relative to its `diagrams/` folder. */
export const DIAGRAM_SCRIPTS = ['vendor/railroad-diagrams.js', 'src/diagrams_builder.js', 'src/diagrams_behavior.js', 'src/main.js'] as const;
export const DIAGRAM_CSS = 'diagrams.css';

export interface DiagramResources {
  /** Text of each file in DIAGRAM_SCRIPTS and DIAGRAM_CSS, by that relative path. */
  readonly files: ReadonlyMap<string, string>;
}

const BASE = 'inline-resource:/';
const CSS = 'inline-css:/diagrams.css';

/** Text that cannot end the <script>/<style> element it is put in. */
function safeInline(text: string, element: 'script' | 'style'): string {
  return text.replace(new RegExp(`</(${element})`, 'gi'), '<\\/$1');
}

/** Names of the terminals in `grammar`, in the order the diagrams show them. */
function terminalNames(grammar: readonly ISerializedGast[]): string[] {
  const names: string[] = [];
  const walk = (p: ISerializedGast): void => {
    if (p.type === 'Terminal' && 'name' in p && typeof p.name === 'string' && !names.includes(p.name)) names.push(p.name);
    if ('definition' in p && Array.isArray(p.definition)) for (const d of p.definition as ISerializedGast[]) walk(d);
  };
  for (const rule of grammar) walk(rule);
  return names;
}

/**
 * One diagram per token category the grammar uses, after the parser's own:
 * the words the category stands for, as alternatives (a box that says
 * STEP_NUMBER tells a reader nothing about `pause`).
 */
export function categoryDiagrams(grammar: readonly ISerializedGast[], categories: ReadonlyMap<TokenType, readonly TokenType[]>): ISerializedGast[] {
  const byName = new Map([...categories.keys()].map((c) => [c.name, c]));
  const used = terminalNames(grammar).flatMap((n) => byName.get(n) ?? []);
  const rules = used.map(
    (c) =>
      new Rule({
        name: c.name,
        definition: [new Alternation({ definition: (categories.get(c) ?? []).map((word) => new Alternative({ definition: [new Terminal({ terminalType: word })] })) })],
      }),
  );
  return serializeGrammar(rules);
}

export function railroadHtml(grammar: ISerializedGast[], resources: DiagramResources, title: string, note: string): string {
  const need = (path: string): string => {
    const text = resources.files.get(path);
    if (text === undefined) throw new Error(`railroad: missing diagram resource ${path}`);
    return text;
  };
  let html = createSyntaxDiagramsCode(grammar, { resourceBase: BASE, css: CSS });
  html = html.replace(/<link rel='stylesheet' href='([^']*)'>/g, (_m, href: string) => {
    if (href !== CSS) throw new Error(`railroad: unexpected stylesheet ${href}`);
    return `<style>\n${safeInline(need(DIAGRAM_CSS), 'style')}\n</style>`;
  });
  html = html.replace(/<script src='([^']*)'><\/script>/g, (_m, src: string) => {
    if (!src.startsWith(BASE)) throw new Error(`railroad: unexpected script ${src}`);
    return `<script>\n${safeInline(need(src.slice(BASE.length)), 'script')}\n</script>`;
  });
  html = html.replace('<!DOCTYPE html>', `<!DOCTYPE html>\n<!-- ${note} -->\n<title>${title}</title>`);
  // Generated files start with the DOCTYPE; chevrotain puts a comment and blank lines first.
  html = html.replace(/^\s*<!-- This is a generated file -->\s*/, '');
  html = `${html.trimEnd().replace(/[ \t]+$/gm, '')}\n`;
  if (html.includes(BASE) || html.includes(CSS)) throw new Error('railroad: a resource was not inlined');
  return html;
}
