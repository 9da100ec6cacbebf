/**
 * The grammar, and nothing else: a chevrotain CstParser whose rules are class
 * fields. Meaning lives in to-ast.ts and checker.ts. One module-level instance
 * is reused by assigning `parser.input`, which resets its state.
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

  public action = this.RULE('action', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Pause);
          this.CONSUME(T.NumberLiteral);
        },
      },
      { ALT: () => this.CONSUME(T.Accept) },
      {
        ALT: () => {
          this.CONSUME(T.Reject);
          this.CONSUME(T.StringLiteral);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Disconnect);
          this.CONSUME2(T.StringLiteral);
        },
      },
      { ALT: () => this.CONSUME(T.Junk) },
      {
        ALT: () => {
          this.CONSUME(T.Postgrey);
          this.SUBRULE(this.serverAddress);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Policy);
          this.SUBRULE2(this.serverAddress);
        },
      },
      { ALT: () => this.CONSUME(T.Greylist) },
    ]);
  });

  /** `unix:/path`, `tcp:host:port`, or the same as a quoted string. */
  public serverAddress = this.RULE('serverAddress', () => {
    this.OR([{ ALT: () => this.CONSUME(T.SocketAddress) }, { ALT: () => this.CONSUME(T.StringLiteral) }]);
  });

  public stepOption = this.RULE('stepOption', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.whenClause) },
      { ALT: () => this.SUBRULE(this.atClause) },
      { ALT: () => this.SUBRULE(this.onErrorClause) },
      { ALT: () => this.SUBRULE(this.policyOption) },
      { ALT: () => this.SUBRULE(this.greylistOption) },
      { ALT: () => this.SUBRULE(this.pauseOption) },
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

  /** Options of `postgrey` and `policy`. */
  public policyOption = this.RULE('policyOption', () => {
    this.CONSUME(T.Timeout);
    this.CONSUME(T.NumberLiteral);
  });

  /** Options of `greylist`. */
  public greylistOption = this.RULE('greylistOption', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([
            { ALT: () => this.CONSUME(T.Delay) },
            { ALT: () => this.CONSUME(T.MaxAge) },
            { ALT: () => this.CONSUME(T.RetryWindow) },
            { ALT: () => this.CONSUME(T.AutoWhitelist) },
            { ALT: () => this.CONSUME(T.Ipv4Prefix) },
            { ALT: () => this.CONSUME(T.Ipv6Prefix) },
          ]);
          this.CONSUME(T.NumberLiteral);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Store);
          this.CONSUME(T.StringLiteral);
        },
      },
      { ALT: () => this.CONSUME(T.Header) },
    ]);
  });

  /** Options of `pause`: what to do with early talkers, and skipping the pause for clients that sat through it. */
  public pauseOption = this.RULE('pauseOption', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Pregreet);
          this.OR2([
            {
              ALT: () => {
                this.CONSUME(T.Disconnect);
                this.OPTION(() => this.CONSUME(T.StringLiteral));
              },
            },
            { ALT: () => this.CONSUME(T.Log) },
          ]);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.PayOnce);
          this.CONSUME(T.NumberLiteral);
        },
      },
    ]);
  });

  public phaseName = this.RULE('phaseName', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Connect) },
      { ALT: () => this.CONSUME(T.Helo) },
      { ALT: () => this.CONSUME(T.MailFrom) },
      { ALT: () => this.CONSUME(T.RcptTo) },
      { ALT: () => this.CONSUME(T.Data) },
      { ALT: () => this.CONSUME(T.Commit) },
    ]);
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

  /** `FIELD`, `FIELD ~ /RE/` or `FIELD in LIST`; which fit which field is the checker's call. */
  public test = this.RULE('test', () => {
    this.SUBRULE(this.field);
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
      ]);
    });
  });

  public field = this.RULE('field', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Src) },
      { ALT: () => this.CONSUME(T.Rdns) },
      { ALT: () => this.CONSUME(T.Fcrdns) },
      { ALT: () => this.CONSUME(T.Helo) },
      { ALT: () => this.CONSUME(T.MailFrom) },
      { ALT: () => this.CONSUME(T.RcptTo) },
      { ALT: () => this.CONSUME(T.Tls) },
      { ALT: () => this.CONSUME(T.TlsVersion) },
      { ALT: () => this.CONSUME(T.TlsCipher) },
      { ALT: () => this.CONSUME(T.Authenticated) },
      { ALT: () => this.CONSUME(T.AuthUser) },
    ]);
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
