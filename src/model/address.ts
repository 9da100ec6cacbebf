/**
 * Where a policy server listens (`postgrey ADDRESS`, `policy ADDRESS`): read
 * by the rules pipeline, which parses it, and by the policy client, which
 * connects to it.
 */
export type PolicyAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };
