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
    key: `${network}/${sender}/${recipient}`,
  });
}
