/**
 * Everything that can go wrong talking to a policy server, as one error
 * type with a kind. The step runner throws it; the runtime turns any throw
 * into the step's on-error decision (tempfail or proceed).
 */

export type PolicyErrorKind =
  /** No answer within the step's timeout. The connection was discarded. */
  | 'timeout'
  /** The session went away (or the runtime's deadline passed) first. */
  | 'aborted'
  /** Could not connect (refused, no such socket, ...). */
  | 'connect'
  /** The server closed the connection before answering. */
  | 'closed'
  /** The server answered something that is not the protocol. */
  | 'protocol'
  /** The server answered an action we cannot act on. */
  | 'action'
  /** Recent failures: the server is left alone until its backoff ends. */
  | 'unavailable'
  /** Too many requests already waiting for a connection. */
  | 'overloaded'
  /** The client was shut down. */
  | 'shutdown';

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    readonly kind: PolicyErrorKind,
    /** The server, as written in the rules (`unix:/run/postgrey/postgrey.sock`). */
    readonly server: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`policy server ${server}: ${message}`, options);
  }
}

export function isPolicyError(e: unknown): e is PolicyError {
  return e instanceof PolicyError;
}
