/**
 * `rspamd "http://127.0.0.1:11333" [timeout DURATION] [settings-id "ID"]
 * [max-size BYTES [oversize-tempfail]] [skip-authenticated] [skip-local]`:
 * asks rspamd about the message at commit (issue 15). The runtime holds the
 * message (runtime/message-hold.ts); at the client's `.` the step posts it
 * to rspamd's /checkv2, applies the headers rspamd asks for, and at commit
 * answers rspamd's action (src/rspamd/verdict.ts): reject 550, soft reject
 * and greylist 451, add header as junk (X-Spam: Yes), rewrite subject, no
 * action proceeds. Later steps test the verdict with `rspamd-action` and
 * `rspamd-symbol`. A failure (down, hung, a malformed answer) is the step's
 * on-error: tempfail (451) by default, or proceed. What the pipeline and the
 * runtime know of it; the runner is run.ts. Pure.
 */
import type { CustomActionChoice } from '../../model/message.js';
import type { KindDefinition, OptionSpec, StepDefinition, ValueSpec } from '../spec.js';

export interface RspamdStepOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly settingsId: string | null;
  /** Messages bigger than this (bytes, as queued) are not sent; null: no bound. */
  readonly maxSize: number | null;
  /** A message over max-size is tempfailed rather than let through unscanned. */
  readonly oversizeTempfail: boolean;
  readonly skipAuthenticated: boolean;
  readonly skipLocal: boolean;
  /** What rspamd's `discard` and `quarantine` actions become (junk by default). */
  readonly discard: CustomActionChoice;
  readonly quarantine: CustomActionChoice;
}

declare module '../../model/plan.js' {
  interface StepActions {
    rspamd: { readonly options: RspamdStepOptions };
  }
}

const url = {
  type: 'http-url',
  what: 'the rspamd URL',
  docName: 'URL',
  example: '"http://127.0.0.1:11333"',
} as const satisfies ValueSpec<'http-url'>;

/** Longer than rspamd's own task timeout (8 s), so rspamd gives up first and still answers. */
export const RSPAMD_DEFAULT_TIMEOUT_MS = 20_000;

const timeout = {
  name: 'timeout',
  type: 'duration',
  min: 1,
  max: 300_000,
  default: RSPAMD_DEFAULT_TIMEOUT_MS,
  what: 'an rspamd timeout',
  why: 'smtpd gives up on a session after 300s',
  docName: 'DURATION',
  example: '30s',
  doc: { allowed: '', meaning: 'how long rspamd may take for a message (its own task timeout is 8s); later, the step fails (on-error)' },
} as const satisfies OptionSpec<'duration'>;

const settingsId = {
  name: 'settings-id',
  type: 'settings-id',
  default: null,
  what: 'the settings id',
  docName: 'ID',
  example: '"inbound"',
  doc: { allowed: 'a letter or digit, then letters, digits, `-`, `_` and `.` (E096)', meaning: 'the `Settings-ID` rspamd applies to the message (settings.conf)' },
} as const satisfies OptionSpec<'settings-id'>;

const maxSize = {
  name: 'max-size',
  type: 'count',
  min: 1,
  max: 500_000_000,
  default: null,
  what: 'a maximum message size',
  docName: 'BYTES',
  example: '20000000',
  doc: { allowed: '', meaning: 'a bigger message (bytes, as queued) is not sent to rspamd: it goes through unscanned, or with `oversize-tempfail` is tempfailed' },
} as const satisfies OptionSpec<'count'>;

const flag = (name: 'oversize-tempfail' | 'skip-authenticated' | 'skip-local', meaning: string) =>
  ({
    name,
    type: 'flag',
    default: null,
    what: name,
    docName: '',
    example: '',
    doc: { allowed: '', meaning },
  }) as const satisfies OptionSpec<'flag'>;

const customAction = (name: 'discard' | 'quarantine') =>
  ({
    name,
    type: 'choice',
    choices: [
      { word: 'junk', reply: false },
      { word: 'reject', reply: true },
    ],
    default: null,
    what: name,
    docName: 'junk | reject ["REPLY"]',
    example: 'reject',
    doc: {
      allowed: '`junk` (the default: `X-Spam: Yes`, delivered) or `reject`, with rspamd\u2019s message as a `550 5.7.1` or the reply given',
      meaning: `what rspamd\u2019s \`${name}\` action does to the message`,
    },
  }) as const satisfies OptionSpec<'choice'>;

function customActionOf(choice: { readonly word: string; readonly reply: string | null } | undefined): CustomActionChoice {
  return choice?.word === 'reject' ? { action: 'reject', reply: choice.reply } : { action: 'junk' };
}

const options = {
  timeout,
  'settings-id': settingsId,
  'max-size': maxSize,
  'oversize-tempfail': flag('oversize-tempfail', 'a message over `max-size` is tempfailed (451) instead of passing unscanned'),
  'skip-authenticated': flag('skip-authenticated', 'messages of authenticated clients are not sent to rspamd'),
  'skip-local': flag('skip-local', 'messages from smtpd’s local socket (sendmail, local submission) are not sent to rspamd'),
  discard: customAction('discard'),
  quarantine: customAction('quarantine'),
} as const;

export const rspamdStep = {
  keyword: 'rspamd',
  argument: url,
  options,
  phases: { earliest: 'commit', default: 'commit', why: 'it needs the whole message' },
  ends: null,
  // What it decides is rspamd's (a reject or a tempfail), adapted to smtpd's rules at run time.
  decides: [],
  checks: [],
  codes: [],
  // It holds the message and edits its header.
  needsDataLine: () => true,
  compile: ({ argument, options: o }) => ({
    kind: 'rspamd',
    options: {
      url: argument,
      timeoutMs: o.timeout,
      settingsId: o['settings-id'] ?? null,
      maxSize: o['max-size'] ?? null,
      oversizeTempfail: o['oversize-tempfail'] === true,
      skipAuthenticated: o['skip-authenticated'] === true,
      skipLocal: o['skip-local'] === true,
      discard: customActionOf(o.discard),
      quarantine: customActionOf(o.quarantine),
    },
  }),
  compiles: ['rspamd'],
} as const satisfies StepDefinition<'http-url', typeof options, 'rspamd'>;

export const rspamdKind: KindDefinition<'rspamd'> = {
  kind: 'rspamd',
  // At commit it answers from its reading at once; the asking is done at the `.` (readsMessage).
  timing: { mode: 'sync' },
  readsMessage: { deadlineMs: (a) => a.options.timeoutMs },
  // A dry-run step asks rspamd all the same; its headers are not applied.
  dryRun: 'run',
  delaysClient: false,
  describe: {
    text: (a) => {
      const o = a.options;
      const parts = [`rspamd ${JSON.stringify(o.url)}`];
      if (o.timeoutMs !== RSPAMD_DEFAULT_TIMEOUT_MS) parts.push(`timeout ${o.timeoutMs}ms`);
      if (o.settingsId !== null) parts.push(`settings-id ${JSON.stringify(o.settingsId)}`);
      if (o.maxSize !== null) parts.push(`max-size ${o.maxSize}`);
      if (o.oversizeTempfail) parts.push('oversize-tempfail');
      if (o.skipAuthenticated) parts.push('skip-authenticated');
      if (o.skipLocal) parts.push('skip-local');
      for (const [name, c] of [['discard', o.discard], ['quarantine', o.quarantine]] as const) {
        if (c.action === 'reject') parts.push(c.reply === null ? `${name} reject` : `${name} reject ${JSON.stringify(c.reply)}`);
      }
      return parts.join(' ');
    },
  },
};
