/**
 * The `dkim-sign` runner. At the client's `.` (readMessage) it signs the held
 * message and asks for the DKIM-Signature at the top of the header; at
 * commit (run) it answers from that reading: the chain goes on. A signing
 * failure throws, so the runtime answers the step's on-error (tempfail by
 * default): an outgoing message is never let through half-signed by
 * surprise. No I/O besides the signing: the key was read at compile.
 */
import type { MessageReading } from '../../model/message.js';
import type { StepOf } from '../../model/plan.js';
import { answerFromReading } from '../../model/reading.js';
import type { MessageContext, StepContext, StepOutcome, StepRunner } from '../../model/runner.js';
import { signMessage, SIGNATURE_FIELD } from '../../auth/dkim-sign.js';
import { makeField } from '../../message/fields.js';
import type { ServiceSpec } from '../service.js';
import { stateless } from '../service.js';

export class DkimSignRunner implements StepRunner {
  /** mailauth reads PEM text; the action holds a KeyObject so plans never carry it. Exported once per compiled step. */
  private readonly pem: string;

  constructor(readonly step: StepOf<'dkim-sign'>) {
    this.pem = step.action.options.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  async readMessage(ctx: MessageContext): Promise<MessageReading> {
    const o = this.step.action.options;
    const value = await signMessage(ctx.message.stream('\r\n'), {
      domain: o.domain,
      selector: o.selector,
      algorithm: o.algorithm,
      privateKeyPem: this.pem,
      signTime: new Date(ctx.clock.now()),
    });
    const field = makeField(SIGNATURE_FIELD, value);
    if (!field.ok) throw new Error(field.error);
    return {
      edits: [{ type: 'insert', position: 0, field: field.value }],
      outcome: { type: 'continue', detail: { dkim: `signed d=${o.domain} s=${o.selector} a=${o.algorithm}` } },
    };
  }

  run(ctx: StepContext): StepOutcome {
    return answerFromReading(this.step, ctx.facts);
  }
}

export const dkimSignService: ServiceSpec<'dkim-sign'> = {
  kind: 'dkim-sign',
  external: false,
  createService: () => stateless((step) => new DkimSignRunner(step)),
};
