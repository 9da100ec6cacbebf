/**
 * The greylist triplet: (client network, normalized sender, recipient), plus
 * the full client address, which keys the client auto-whitelist.
 */
import { err, ok, type Result } from '../support/result.js';
import { formatIp, networkOf, parseIp, type NetworkPrefixes } from './ip.js';
import { lowerAscii } from './lower.js';
import { normalizeSender } from './sender.js';

export interface Triplet {
  /** Full client address, canonical text (IPv4-mapped IPv6 shown as IPv4). Keys the auto-whitelist. */
  readonly client: string;
  /** Client network after masking (`192.0.2.0`, `2001:db8::`). */
  readonly network: string;
  /** Normalized envelope sender, lower case (ASCII); "" for the null sender. */
  readonly sender: string;
  /** Recipient, lower case (ASCII). */
  readonly recipient: string;
  /** `network/sender/recipient`, postgrey's key layout, lower case. */
  readonly key: string;
}

export interface TripletInput {
  readonly src: string;
  readonly mailFrom: string;
  readonly rcptTo: string;
}

export function buildTriplet(input: TripletInput, prefixes: NetworkPrefixes): Result<Triplet, string> {
  const ip = parseIp(input.src);
  if (!ip) return err(`client address ${JSON.stringify(input.src)} is not an IP address`);
  const network = networkOf(ip, prefixes);
  const sender = normalizeSender(input.mailFrom);
  // postgrey keys the recipient as given, lower-cased (A–Z only): no +extension folding.
  const recipient = lowerAscii(input.rcptTo);
  return ok({
    client: formatIp(ip),
    network,
    sender,
    recipient,
    key: tripletKey(network, sender, recipient),
  });
}

/** `network/sender/recipient`, postgrey's key layout: the one place a key is put together. */
export function tripletKey(network: string, sender: string, recipient: string): string {
  return `${network}/${sender}/${recipient}`;
}

/** A triplet as its key names it: no full client address, the key does not hold one. */
export type KeyedTriplet = Omit<Triplet, 'client'>;

/** Why a text is not a triplet key. */
export type TripletKeyError =
  /** Not three `/`-separated fields. */
  | { readonly kind: 'not-a-key' }
  /** The first field is no IP address or network. */
  | { readonly kind: 'bad-network'; readonly network: string };

/**
 * A key as a person writes it (`greylist list`'s KEY column, or the client's
 * full address, the raw sender, any case) → the triplet the filter keys it
 * as, normalised by buildTriplet itself, so the two cannot drift apart. The
 * first `/` ends the network and the last begins the recipient: a sender may
 * hold `/`, a recipient may not.
 */
export function tripletFromKey(text: string, prefixes: NetworkPrefixes): Result<KeyedTriplet, TripletKeyError> {
  const first = text.indexOf('/');
  const last = text.lastIndexOf('/');
  if (first < 0 || last === first) return err({ kind: 'not-a-key' });
  const network = text.slice(0, first);
  const built = buildTriplet({ src: network, mailFrom: text.slice(first + 1, last), rcptTo: text.slice(last + 1) }, prefixes);
  // buildTriplet refuses only a client address that is none.
  if (!built.ok) return err({ kind: 'bad-network', network });
  const t = built.value;
  return ok({ network: t.network, sender: t.sender, recipient: t.recipient, key: t.key });
}
