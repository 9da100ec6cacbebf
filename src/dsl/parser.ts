/**
 * The grammar, and nothing else: a chevrotain CstParser whose rules are class
 * fields. Meaning lives in to-ast.ts and check/. One module-level instance
 * is reused by assigning `parser.input`, which resets its state.
 *
 * Steps, options, fields and phases are consumed by token category (tokens.ts,
 * built from the catalogues), not word by word: a new step or option is a
 * catalogue entry of an existing shape and needs no rule here.
 *
 * Error recovery is on, so one file yields all its syntax errors. Errors come
 * out of chevrotain through the message provider below, which encodes what was
 * expected as data; parse.ts turns that into located diagnostics with hints.
 */
import { CstParser } from './chevrotain.js';
import type { IParserErrorMessageProvider, TokenType } from 'chevrotain';
import * as T from './tokens.js';

/** What chevrotain expected where an error happened, as token type names. */
export interface Expectation {
  readonly expected: readonly string[];
}

/** Names of the first tokens of each path, deduplicated, in grammar order. */
function firsts(paths: readonly (readonly TokenType[])[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const first = p[0];
    if (first !== undefined && !out.includes(first.name)) out.push(first.name);
  }
  return out;
}

const encode = (e: Expectation): string => JSON.stringify(e);

const messageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected }) => encode({ expected: [expected.name] }),
  buildNotAllInputParsedMessage: () => encode({ expected: [T.List.name, T.Chain.name] }),
  buildNoViableAltMessage: ({ expectedPathsPerAlt }) => encode({ expected: firsts(expectedPathsPerAlt.flat()) }),
  buildEarlyExitMessage: ({ expectedIterationPaths }) => encode({ expected: firsts(expectedIterationPaths) }),
};

export class RulesParser extends CstParser {
  constructor() {
    super(T.parserTokens, {
      recoveryEnabled: true,
      maxLookahead: 3,
      nodeLocationTracking: 'onlyOffset',
      errorMessageProvider: messageProvider,
    });
    this.performSelfAnalysis();
  }

  /** A file: list and chain declarations, in any order. */
  public rulesFile = this.RULE('rulesFile', () => {
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.listDecl) }, { ALT: () => this.SUBRULE(this.chainDecl) }]);
    });
  });

  public listDecl = this.RULE('listDecl', () => {
    this.CONSUME(T.List);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.OR([
      { ALT: () => this.SUBRULE(this.listBody) },
      {
        ALT: () => {
          this.CONSUME(T.File);
          this.CONSUME(T.StringLiteral);
        },
      },
    ]);
  });

  /** `{ item, item, ... }`; a trailing comma is allowed. */
  public listBody = this.RULE('listBody', () => {
    this.CONSUME(T.LBrace);
    this.OPTION(() => {
      this.SUBRULE(this.listItem);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.SUBRULE2(this.listItem);
      });
      this.OPTION2(() => this.CONSUME2(T.Comma));
    });
    this.CONSUME(T.RBrace);
  });

  public listItem = this.RULE('listItem', () => {
    this.OR([{ ALT: () => this.CONSUME(T.ListItem) }, { ALT: () => this.CONSUME(T.StringLiteral) }]);
  });

  public chainDecl = this.RULE('chainDecl', () => {
    this.CONSUME(T.Chain);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.step);
    this.MANY(() => {
      this.CONSUME(T.Then);
      this.SUBRULE2(this.step);
    });
  });

  /** [dry-run] an action, then its options and modifiers in any order (the checker says which fit). */
  public step = this.RULE('step', () => {
    this.OPTION(() => this.CONSUME(T.DryRun));
    this.SUBRULE(this.action);
    this.MANY(() => this.SUBRULE(this.stepOption));
  });

  /** A step word and its argument, one alternative per argument shape (the catalogue gives each word one). */
  public action = this.RULE('action', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.CATEGORIES.STEP_NUMBER);
          this.CONSUME(T.NumberLiteral);
        },
      },
      { ALT: () => this.CONSUME(T.CATEGORIES.STEP_NONE) },
      {
        ALT: () => {
          this.CONSUME(T.CATEGORIES.STEP_STRING);
          this.CONSUME(T.StringLiteral);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.CATEGORIES.STEP_ADDRESS);
          this.SUBRULE(this.serverAddress);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.CATEGORIES.STEP_POINTS);
          this.CONSUME2(T.NumberLiteral);
          this.CONSUME2(T.StringLiteral);
        },
      },
    ]);
  });

  /** `unix:/path`, `tcp:host:port`, or the same as a quoted string. */
  public serverAddress = this.RULE('serverAddress', () => {
    this.OR([{ ALT: () => this.CONSUME(T.SocketAddress) }, { ALT: () => this.CONSUME(T.StringLiteral) }]);
  });

  /**
   * The language's clauses, then an option word and its value, one alternative
   * per value shape. Any option may follow any step: which fit which step is
   * the checker's call (E043).
   */
  public stepOption = this.RULE('stepOption', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.whenClause) },
      { ALT: () => this.SUBRULE(this.atClause) },
      { ALT: () => this.SUBRULE(this.onErrorClause) },
      {
        ALT: () => {
          this.CONSUME(T.CATEGORIES.OPTION_NUMBER);
          this.CONSUME(T.NumberLiteral);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.CATEGORIES.OPTION_STRING);
          this.CONSUME(T.StringLiteral);
        },
      },
      { ALT: () => this.CONSUME(T.CATEGORIES.OPTION_FLAG) },
      {
        ALT: () => {
          this.CONSUME(T.CATEGORIES.OPTION_CHOICE);
          this.SUBRULE(this.optionChoice);
        },
      },
    ]);
  });

  public whenClause = this.RULE('whenClause', () => {
    this.CONSUME(T.When);
    this.SUBRULE(this.orExpr);
  });

  public atClause = this.RULE('atClause', () => {
    this.CONSUME(T.At);
    this.SUBRULE(this.phaseName);
  });

  public onErrorClause = this.RULE('onErrorClause', () => {
    this.CONSUME(T.OnError);
    this.OR([{ ALT: () => this.CONSUME(T.Tempfail) }, { ALT: () => this.CONSUME(T.Proceed) }]);
  });

  /** The value of a choice option (`pregreet disconnect "421 …"`, `pregreet log`): a word, some with a reply. */
  public optionChoice = this.RULE('optionChoice', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.CATEGORIES.CHOICE_REPLY);
          this.OPTION(() => this.CONSUME(T.StringLiteral));
        },
      },
      { ALT: () => this.CONSUME(T.CATEGORIES.CHOICE_WORD) },
    ]);
  });

  /**
   * One alternative, not a bare CONSUME: a word that is no phase fails as "no
   * viable alternative", as the list of phase words did. A failed CONSUME
   * would try single-token deletion instead (`at foo connect` would take
   * `connect` and report what follows it as a second error).
   */
  public phaseName = this.RULE('phaseName', () => {
    this.OR([{ ALT: () => this.CONSUME(T.CATEGORIES.PHASE) }]);
  });

  /** Precedence: not > and > or. */
  public orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpr);
    });
  });

  public andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpr);
    });
  });

  public notExpr = this.RULE('notExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  public primary = this.RULE('primary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.orExpr);
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.test) },
    ]);
  });

  /** `FIELD`, `FIELD ~ /RE/`, `FIELD in LIST` or `FIELD >= NUMBER`; which fit which field is the checker's call. */
  public test = this.RULE('test', () => {
    this.CONSUME(T.CATEGORIES.FIELD);
    this.OPTION(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.Tilde);
            this.CONSUME(T.RegexLiteral);
          },
        },
        {
          ALT: () => {
            this.CONSUME(T.In);
            this.SUBRULE(this.listRef);
          },
        },
        {
          ALT: () => {
            this.CONSUME(T.Compare);
            this.CONSUME(T.NumberLiteral);
          },
        },
      ]);
    });
  });

  public listRef = this.RULE('listRef', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.SUBRULE(this.listBody) }]);
  });
}

/** The one instance; `parse` resets it through `parser.input`. */
export const parser = new RulesParser();

/** Reads back what the message provider encoded; empty for anything else. */
export function decodeExpectation(message: string): Expectation {
  try {
    const parsed: unknown = JSON.parse(message);
    if (parsed !== null && typeof parsed === 'object' && 'expected' in parsed && Array.isArray(parsed.expected)) {
      return { expected: parsed.expected.filter((x: unknown): x is string => typeof x === 'string') };
    }
  } catch {
    // not one of ours: fall through
  }
  return { expected: [] };
}
