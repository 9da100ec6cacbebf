/**
 * `--metrics [HOST:]PORT` → where the metrics endpoint listens. Pure.
 * A bare port binds loopback: exposing the endpoint is a choice to write
 * out (`0.0.0.0:9464`, `[::]:9464`).
 */
import { isIP } from 'node:net';
import { err, ok, type Result } from '../support/result.js';

export interface ListenAddress {
  readonly host: string;
  /** 0 lets the system choose (tests). */
  readonly port: number;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

export function parseListenAddress(text: string): Result<ListenAddress, string> {
  let host = DEFAULT_METRICS_HOST;
  let portText = text;
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    portText = bracketed[2] ?? '';
    if (isIP(host) !== 6) return err(`--metrics ${text}: "${host}" is not an IPv6 address`);
  } else if (text.includes(':')) {
    const at = text.lastIndexOf(':');
    host = text.slice(0, at);
    portText = text.slice(at + 1);
    if (host.includes(':')) return err(`--metrics ${text}: write an IPv6 address in brackets, e.g. [::1]:9464`);
    if (host === '' || (isIP(host) === 0 && !HOSTNAME.test(host))) return err(`--metrics ${text}: "${host}" is not a host name or address`);
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    return err(`--metrics ${text}: the port must be a number from 0 to 65535 (e.g. --metrics 127.0.0.1:9464)`);
  }
  return ok({ host, port: Number(portText) });
}

/** `127.0.0.1:9464`, `[::1]:9464`. */
export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
