/** User mistakes and expected failures travel as values; only bugs throw. */
export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });

/** What is wrong with a value a person wrote: a sentence, and what to write instead. The caller locates it. */
export interface Problem {
  readonly message: string;
  readonly hint?: string;
}

/** A written value read, or the problem with it (the rules' value parsers: durations, addresses, stores). */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: Problem };

export const good = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const bad = (message: string, hint?: string): Parsed<never> => ({ ok: false, problem: hint === undefined ? { message } : { message, hint } });
