/**
 * The production StepServices: policy delegation over real sockets and
 * greylisting with real stores. Both keep their shared state (connections,
 * open stores) across reloads; `retain` tells them which rules are current.
 */
import { createGreylistRunnerFactory, type GreylistRunnerDeps } from '../actions/greylist.js';
import { createPolicyService } from '../actions/policy.js';
import type { StepServices } from '../actions/registry.js';
import type { PolicyConnector } from '../policy/connection.js';
import type { PolicyClientSettings } from '../policy/registry.js';
import { GreylistStores, storeUrlsOf, type GreylistStoresOptions } from '../store/registry.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';

export interface ServiceDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** Stand-ins for tests (the runtime goldens): a scripted policy server, an in-memory store. Default: the real ones. */
  readonly policy?: { readonly connect?: PolicyConnector; readonly settings?: PolicyClientSettings };
  readonly greylist?: {
    readonly open?: GreylistStoresOptions['open'];
  } & Partial<Pick<GreylistRunnerDeps, 'hostname' | 'version' | 'utcOffsetMinutes'>>;
}

export function createStepServices(deps: ServiceDeps): StepServices {
  const { open, ...header } = deps.greylist ?? {};
  const policy = createPolicyService({ clock: deps.clock, log: deps.log, ...deps.policy });
  const stores = new GreylistStores({ clock: deps.clock, log: deps.log, ...(open !== undefined ? { open } : {}) });
  return {
    factories: {
      policy: policy.factory,
      greylist: createGreylistRunnerFactory({ clock: deps.clock, log: deps.log, stores, ...header }),
    },
    retain(rules) {
      policy.retain(rules);
      // Open the stores now, so a bad store URL or permission shows at startup/reload, not at the first mail.
      for (const problem of stores.retain(storeUrlsOf(rules))) {
        deps.log.error({ store: problem.url, err: problem.error }, 'greylist store cannot be opened; its steps answer per on-error until it can');
      }
    },
    async close() {
      await Promise.all([policy.close(), stores.closeAll()]);
    },
  };
}
