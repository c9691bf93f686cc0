import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { canonicalIp } from '../codec/ip.ts';
import { formatIpv4, parseInetAton } from './ip-key.ts';

const ASCII = /^[\x00-\x7f]*$/;

/**
 * The IP address a SOCKS DOMAIN target names by its spelling alone, as the server's dial would read it, or
 * undefined for a real name. Node dials an `isIP` literal as it is and hands anything else to getaddrinfo,
 * which reads IPv4 in inet_aton's forms ("127.1", "2130706433", "0x7f000001", "0177.0.0.1") before any
 * lookup, after Node has mapped the name to ASCII (UTS #46: "１２７.0.0.1" and "：：１" are numeric too).
 * IPv4 comes back dotted, IPv6 in RFC 5952 form with its zone kept (it matters for the dial), an
 * IPv4-mapped address as IPv4 (canonicalIp). The server checks and dials what this returns, so the name is
 * never looked up. A spelling missed here is still safe: the server checks every address a lookup returns.
 */
export function normaliseNumericHost(name: string): string | undefined {
  if (ASCII.test(name)) return numericForm(name);
  const mapped = asciiMapping(name);
  // domainToASCII refuses ':' and '%', which getaddrinfo reads in IPv6 literals; NFKC maps their fullwidth forms.
  return (mapped === undefined ? undefined : numericForm(mapped)) ?? numericForm(name.normalize('NFKC'));
}

/**
 * A destination name as name rules compare it: the ASCII form the resolver is given (lower case, punycode),
 * without the final dot of a fully qualified name ("Example.COM." is example.com).
 */
export function nameKey(name: string): string {
  const ascii = ASCII.test(name) ? name.toLowerCase() : (asciiMapping(name) ?? name.toLowerCase());
  return ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
}

/** Labels as name servers and getaddrinfo read them literally, dot-separated. */
const LABELS = /^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$/;

/**
 * Whether a destination name is read the same by the rules and by the resolver: in its ASCII form (nameKey),
 * at most 253 characters in labels of 1-63 letters, digits, '-' and '_' (RFC 1035 §2.3.4, with the '_' real
 * names use). Anything else is refused before any rule or lookup: c-ares and glibc read "\DDD" and "\c" as
 * escapes and stop at a NUL, so "evil.example\0.good.test" would pass a rule for *.good.test and be looked
 * up as evil.example; and no name server has an answer for a name with spaces or control characters.
 */
export function isHostName(name: string): boolean {
  const key = nameKey(name);
  return key.length <= 253 && LABELS.test(key);
}

/**
 * The UTS #46 mapping Node applies before getaddrinfo (fullwidth forms and "。" folded, invisible characters
 * dropped, upper case lowered, other scripts in punycode). `url.domainToASCII` does it, but also reads a name
 * that ends in a number as WHATWG IPv4, which is not getaddrinfo's reading ("127.0.0.1." is a name there):
 * a last label "a" keeps it to the mapping. Undefined when the name has no ASCII form.
 */
function asciiMapping(name: string): string | undefined {
  const mapped = domainToASCII(`${name}.a`);
  return mapped.endsWith('.a') ? mapped.slice(0, -2) : undefined;
}

function numericForm(text: string): string | undefined {
  const v4 = parseInetAton(text);
  if (v4 >= 0) return formatIpv4(v4);
  if (isIP(text) !== 6) return undefined;
  const zone = text.indexOf('%');
  if (zone < 0) return canonicalIp(text);
  const canonical = canonicalIp(text.slice(0, zone));
  return canonical.includes(':') ? `${canonical}${text.slice(zone)}` : canonical;
}
