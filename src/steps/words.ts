/**
 * The words steps take after their keyword: option names (`delay`, `pregreet`)
 * and choice words (`pregreet log`). Each is a reserved word of the rules
 * language, listed once here; a new option word is one line. The order is the
 * reserved-word order (dsl/tokens.ts KEYWORDS, pinned by
 * test/fixtures/plans/keywords.json): did-you-mean breaks ties by it.
 * Pure data.
 */

export const STEP_WORDS = [
  ['timeout', 'option'],
  ['delay', 'option'],
  ['max-age', 'option'],
  ['retry-window', 'option'],
  ['auto-whitelist', 'option'],
  ['ipv4-prefix', 'option'],
  ['ipv6-prefix', 'option'],
  ['store', 'option'],
  ['header', 'option'],
  ['pregreet', 'option'],
  ['log', 'choice'],
  ['pay-once', 'option'],
  ['as', 'option'],
  ['resolver', 'option'],
  ['score-only', 'option'],
  ['check-helo', 'option'],
  ['settings-id', 'option'],
  ['max-size', 'option'],
  ['oversize-tempfail', 'option'],
  ['skip-authenticated', 'option'],
  ['skip-local', 'option'],
  ['discard', 'option'],
  ['quarantine', 'option'],
  ['lookup', 'option'],
  ['burst', 'option'],
  ['per', 'option'],
  ['count', 'option'],
  ['connections', 'choice'],
  ['sessions', 'choice'],
  ['messages', 'choice'],
  ['recipients', 'choice'],
  ['bytes', 'choice'],
  ['strict', 'option'],
  ['exceeded', 'option'],
  ['tarpit', 'choice'],
  ['orphans-after', 'option'],
  // dkim-sign (issue 14).
  ['domain', 'option'],
  ['selector', 'option'],
  ['key', 'option'],
  ['algorithm', 'option'],
  ['rsa-sha256', 'choice'],
  ['ed25519-sha256', 'choice'],
  // What a DNS list is asked about (`lookup helo`): field words, reserved already, in their order.
  ['src', 'choice'],
  ['rdns', 'choice'],
  ['helo', 'choice'],
  ['mail-from', 'choice'],
] as const;

type StepWord = (typeof STEP_WORDS)[number];

/** A word that names a step option (`delay 5m`). */
export type OptionWord = Extract<StepWord, readonly [string, 'option']>[0];

/**
 * A word that picks one meaning of a choice option (`pregreet disconnect`,
 * `pregreet log`). A step keyword may double as a choice word: `disconnect`
 * is both, and stays one reserved word.
 */
export type ChoiceWord = Extract<StepWord, readonly [string, 'choice']>[0] | 'disconnect' | 'reject' | 'junk';
