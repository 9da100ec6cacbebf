/**
 * StepAction is built from the StepActions entries each kind's definition
 * adds (issue 11 stage 6b, plan §2.1). This holds it, at the type level, to
 * the union model/plan.ts wrote out before: plans, hand-built test actions
 * and the reload diff's canonical JSON rest on the same shape. Kept until the
 * checker becomes a table (stage 8b); `npx tsc` is the test, the run only
 * says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PolicyAddress } from '../../../src/model/address.js';
import type { ActionOf, StepAction, StepKind } from '../../../src/model/plan.js';

/** True exactly when A and B are the same type (modifiers included), not merely assignable both ways. */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** model/plan.ts's StepAction as written before stage 6b, with the option types it declared. */
type OldUnion =
  | {
      readonly kind: 'pause';
      readonly durationMs: number;
      readonly pregreet?: { readonly action: 'disconnect' | 'log'; readonly reply: string };
      readonly payOnceMs?: number;
    }
  | { readonly kind: 'accept' }
  | { readonly kind: 'reject'; readonly reply: string }
  | { readonly kind: 'disconnect'; readonly reply: string }
  | { readonly kind: 'junk' }
  | { readonly kind: 'policy'; readonly options: { readonly flavor: 'postgrey' | 'policy'; readonly address: PolicyAddress; readonly timeoutMs: number } }
  | {
      readonly kind: 'greylist';
      readonly options: {
        readonly delayMs: number;
        readonly maxAgeMs: number;
        readonly retryWindowMs: number;
        readonly autoWhitelistAfter: number;
        readonly ipv4Prefix: number;
        readonly ipv6Prefix: number;
        readonly store: string;
        readonly header: boolean;
      };
    };

/** Each kind alone, so a difference names its kind. */
type PerKind = { [K in OldUnion['kind']]: Equals<ActionOf<K>, Extract<OldUnion, { kind: K }>> };

const whole: Equals<StepAction, OldUnion> = true;
const kinds: Equals<StepKind, OldUnion['kind']> = true;
const perKind: PerKind = { pause: true, accept: true, reject: true, disconnect: true, junk: true, policy: true, greylist: true };

test('StepAction, built from the kinds’ StepActions entries, is the union model/plan.ts wrote out (checked by tsc)', () => {
  assert.deepEqual({ whole, kinds, perKind }, { whole: true, kinds: true, perKind: { pause: true, accept: true, reject: true, disconnect: true, junk: true, policy: true, greylist: true } });
});
