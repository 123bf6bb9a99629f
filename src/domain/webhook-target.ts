/**
 * Where a webhook may be delivered. A URL set through the admin API must not turn bindery into a
 * way into the network it runs in (its own admin API on loopback, a cloud metadata service on
 * link-local, private services): such addresses are refused when the URL is set (a literal
 * address or localhost) and again at delivery, on the address DNS actually gave for the
 * connection (so a name that later resolves inward is caught too).
 * BINDERY_WEBHOOK_ALLOW_PRIVATE=true allows them, for receivers on the same private network.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

const INWARD = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  INWARD.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  INWARD.addSubnet(network, prefix, 'ipv6');
}

/** Loopback, link-local, private or otherwise not a public unicast address (IPv4-mapped IPv6 included). */
export function isInwardAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // An IPv6 check also applies the IPv4 rules to IPv4-mapped addresses (::ffff:127.0.0.1).
  return INWARD.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const HINT = 'set BINDERY_WEBHOOK_ALLOW_PRIVATE=true for a receiver on your own network';

/** Why a webhook URL's host is refused when the URL is set, or null when it may be used. */
export function inwardHostProblem(url: URL): string | null {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return `webhook url: ${host} is this machine; ${HINT}`;
  if (isInwardAddress(host)) return `webhook url: ${host} is a loopback, link-local or private address; ${HINT}`;
  return null;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that refuses inward addresses: the check is made on the very
 * addresses the connection will use. Handles both forms Node asks for (one address, or all).
 */
export function outwardLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '');
    const inward = addresses.find((a) => isInwardAddress(a.address));
    if (inward) {
      const refused: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to ${inward.address}, a loopback, link-local or private address; ${HINT}`,
      );
      refused.code = 'EWEBHOOKINWARD';
      return callback(refused, '');
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    return callback(null, first.address, first.family);
  });
}
