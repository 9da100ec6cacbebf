/**
 * `postgrey ADDRESS [timeout DURATION]` and `policy ADDRESS [timeout DURATION]`:
 * two keywords of one kind, `policy`, which asks a Postfix policy-delegation
 * server (postgrey is one) and follows its answer. The keyword stays in the
 * action as `flavor`: logs, the reload diff and the tools say what was
 * written. What the rules pipeline and the runtime know of them, without the
 * client (run.ts beside this file, and policy/). Pure.
 */
import { formatPolicyAddress, type PolicyAddress } from '../../model/address.js';
import type { StepDetail } from '../../model/runner.js';
import type { KindDefinition, OptionSpec, StepDefinition, ValueSpec } from '../spec.js';

/** Options of a policy-delegation step (`postgrey ADDRESS`, `policy ADDRESS`). */
export interface PolicyStepOptions {
  readonly flavor: 'postgrey' | 'policy';
  readonly address: PolicyAddress;
  readonly timeoutMs: number;
}

declare module '../../model/plan.js' {
  interface StepActions {
    policy: { readonly options: PolicyStepOptions };
  }
}

/** The server's address; each keyword has its own example. */
const address = {
  type: 'policy-address',
  what: 'the policy server address',
  docName: 'ADDRESS',
} as const satisfies Omit<ValueSpec<'policy-address'>, 'example'>;

const timeout = {
  name: 'timeout',
  type: 'duration',
  min: 1,
  max: 300_000,
  default: 2000,
  what: 'a timeout',
  why: 'smtpd gives up on a session after 300s',
  docName: 'DURATION',
  example: '5s',
  doc: { allowed: '', meaning: 'how long to wait for the server’s answer before the step fails (on-error)' },
} as const satisfies OptionSpec<'duration'>;

const options = { timeout } as const;

/** One definition per keyword, the same but for the word (and so the flavor it compiles with). */
function policyKeyword<W extends PolicyStepOptions['flavor']>(keyword: W, example: string) {
  return {
    keyword,
    argument: { ...address, example },
    options,
    // The server is asked about the envelope: sender and recipient.
    phases: { earliest: 'mail-from', default: 'rcpt-to', why: 'it needs the envelope' },
    ends: null,
    // What the server answers is its own, adapted to smtpd's rules at run time.
    decides: [],
    checks: [],
    codes: [],
    // An answer may PREPEND a header, which takes data-line.
    needsDataLine: () => true,
    compile: ({ argument, options: o }) => ({ kind: 'policy', options: { flavor: keyword, address: argument, timeoutMs: o.timeout } }),
    compiles: ['policy'],
  } as const satisfies StepDefinition<'policy-address', typeof options, 'policy'>;
}

export const postgreyStep = policyKeyword('postgrey', '"unix:/run/postgrey/postgrey.sock"');
export const policyStep = policyKeyword('policy', '"tcp:127.0.0.1:10040"');

export const policyKind: KindDefinition<'policy'> = {
  kind: 'policy',
  // The client's own timeout ends a request; the runtime's deadline (plus its margin) backs it up.
  timing: { mode: 'async', deadlineMs: (a) => a.options.timeoutMs, selfTimed: false },
  // A dry-run step asks the server all the same: what it would have done is the point.
  dryRun: 'run',
  delaysClient: false,
  describe: {
    // The canonical spelling of the address (`inet:` as `tcp:`, IPv6 in brackets), as the rules can write it; the timeout when not the default.
    text: (a) => {
      const o = a.options;
      const shown = o.timeoutMs === timeout.default ? '' : ` timeout ${o.timeoutMs}ms`;
      return `${o.flavor} ${formatPolicyAddress(o.address)}${shown}`;
    },
    // The server's answer as it came (the tool makes it printable).
    outcome: (d: StepDetail) => (typeof d.answer === 'string' ? ` answered ${d.answer}` : null),
  },
};
