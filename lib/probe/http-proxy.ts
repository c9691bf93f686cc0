import { randomBytes } from 'node:crypto';
import { connectAuthority } from '../client/http-connect.ts';
import { formatAddress, type Address } from '../codec/address.ts';
import { basicCredentials } from '../codec/http-basic.ts';
import { decodeHttpResponseHead, encodeHttpRequestHead, headerValues, type HttpHeader, type HttpResponseHead } from '../codec/http-head.ts';
import { safeText } from '../safe-text.ts';
import { escapeText } from './bytes.ts';
import { elapsedMs, startClock } from './clock.ts';
import { REMOTE_PROBE, type CommandDetail, type CommandStatus } from './commands.ts';
import type { StepOptions } from './detect.ts';
import { startPageTarget, type PageTarget } from './http-target.ts';
import type { AuthResult } from './report.ts';
import { labelled } from './step-trace.ts';
import { openWire, type Wire } from './wire.ts';

/** What `socx probe` found out about an HTTP proxy: `http` in `--json`. */
export interface HttpProxyFindings {
  /** CONNECT to the probe's echo (or `--target`), with a data round trip through the tunnel. */
  readonly connect: CommandStatus;
  /** A plain absolute-form `GET http://…/` of the probe's own page, answered with that page. */
  readonly forward: CommandStatus;
  /** Whether requests without credentials get 407, the schemes its Proxy-Authenticate offers, and what became
 * of the credentials given. */
  readonly auth: { readonly required: boolean; readonly schemes: readonly string[]; readonly credentials: AuthResult };
  /** Its Server (or Via) header, escaped. */
  readonly server?: string;
  readonly details: { readonly connect: CommandDetail; readonly forward: CommandDetail };
}

export interface HttpProbe {
  /** It answered like a proxy: a tunnel, a forwarded page, or a 407. */
  readonly isProxy: boolean;
  readonly http: HttpProxyFindings;
  readonly auth: AuthResult;
  readonly authReason?: string;
  /** The first CONNECT's round trip: request sent to response head. */
  readonly latencyMs: number | null;
  /** Why it is not a proxy, when it is not. */
  readonly reason?: string;
}

/** A request answered: the status line and a few headers, the time to the head, and what became of it. */
interface Attempt {
  readonly head?: HttpResponseHead;
  readonly latencyMs?: number;
  readonly detail: CommandDetail;
}

const PROXY_AUTH_REQUIRED = 407;
const UNAUTHORIZED = 401;

/** Where CONNECT goes: the probe's echo (the bytes must come back as sent) or, with `--target`, a remote
 * service (any byte back will do). */
interface Tunnel { readonly address: Address; readonly echo: boolean }

/**
 * An HTTP proxy's abilities, each request on its own connection and all at once: CONNECT to `echo` (or
 * `target`) and a plain GET of a page of ours beside the echo, without credentials (does it ask for them?)
 * and, when given, with them (does it take them?).
 */
export async function probeHttpProxy(step: StepOptions, echo: Address, target?: Address): Promise<HttpProbe> {
  const page = await startPageTarget(echo.host);
  try {
    return await probeWith(step, target ? { address: target, echo: false } : { address: echo, echo: true }, page);
  } finally {
    await page.close();
  }
}

async function probeWith(step: StepOptions, tunnel: Tunnel, page: PageTarget): Promise<HttpProbe> {
  const { proxy } = step;
  const credentials = proxy.username === undefined ? undefined : { username: proxy.username, password: proxy.password ?? '' };
  const [bareConnect, bareForward, loginConnect, loginForward] = await Promise.all([
    tryConnect(labelled(step, 'http-connect'), tunnel, undefined),
    tryForward(labelled(step, 'http-forward'), page, undefined),
    credentials && tryConnect(labelled(step, 'http-connect-login'), tunnel, credentials),
    credentials && tryForward(labelled(step, 'http-forward-login'), page, credentials),
  ]);
  const bare = [bareConnect, bareForward];
  const challenged = bare.filter((attempt) => attempt.head?.status === PROXY_AUTH_REQUIRED);
  const required = challenged.length > 0;
  const schemes = [...new Set(challenged.flatMap((attempt) => fields(attempt.head, 'proxy-authenticate').map(authScheme)))];
  const [connect, forward] = required && loginConnect && loginForward ? [loginConnect, loginForward] : [bareConnect, bareForward];
  const { auth, authReason } = authOutcome(required, schemes, credentials?.username, [loginConnect, loginForward]);
  // The proxy's own Server header (on a 407 or an error page), else the Via it adds to a forwarded page.
  const heads = [...bare, loginConnect, loginForward].map((attempt) => attempt?.head);
  const server = [...heads.map((head) => fields(head, 'server')[0]), ...heads.map((head) => fields(head, 'via')[0])].find(Boolean);
  // A 200 to CONNECT alone proves nothing (a web server may answer anything with 200): only data through it.
  const isProxy = required || connect.detail.status === 'ok' || forward.detail.status === 'ok';
  const http: HttpProxyFindings = {
    connect: connect.detail.status,
    forward: forward.detail.status,
    auth: { required, schemes, credentials: auth },
    ...(server === undefined ? {} : { server: escapeText(server) }),
    details: { connect: connect.detail, forward: forward.detail },
  };
  return {
    isProxy, http, auth,
    ...(authReason === undefined ? {} : { authReason }),
    latencyMs: bareConnect.latencyMs ?? null,
    ...(isProxy ? {} : { reason: notProxyReason(bareConnect, bareForward) }),
  };
}

function authOutcome(required: boolean, schemes: readonly string[], username: string | undefined, withLogin: ReadonlyArray<Attempt | undefined>): { auth: AuthResult; authReason?: string } {
  if (!required) return { auth: 'not-required' };
  const offered = schemes.length > 0 ? ` (${schemes.join(', ')})` : '';
  if (username === undefined) return { auth: 'not-tested', authReason: `the proxy requires authentication${offered}: give credentials with -U user:pass or in the URL` };
  // tinyproxy answers wrong credentials with 401, not 407.
  const refused = withLogin.find((attempt) => attempt?.head?.status === PROXY_AUTH_REQUIRED || attempt?.head?.status === UNAUTHORIZED);
  if (!refused) return { auth: 'ok' };
  const basic = schemes.some((scheme) => scheme.toLowerCase() === 'basic');
  const why = basic || schemes.length === 0 ? '' : `: it asks for ${schemes.join(', ')}, and socx sends only Basic`;
  return { auth: 'failed', authReason: `the proxy rejected the credentials for user "${escapeText(username)}" (${statusText(refused.head)})${why}` };
}

async function tryConnect(step: StepOptions, tunnel: Tunnel, credentials: Credentials | undefined): Promise<Attempt> {
  const authority = connectAuthority(tunnel.address);
  return exchange(step, { method: 'CONNECT', target: authority, host: authority }, credentials, async (wire, head, latencyMs) => {
    if (head.status < 200 || head.status > 299) return { status: 'refused', reply: statusText(head), latencyMs };
    const payload = tunnel.echo ? Buffer.concat([Buffer.from('socx-probe http '), randomBytes(8)]) : REMOTE_PROBE;
    const trip = startClock();
    wire.send(payload);
    const back = await wire.readBytes(tunnel.echo ? payload.length : 1);
    if (tunnel.echo ? back.equals(payload) : back.length > 0) return { status: 'ok', reply: statusText(head), latencyMs, roundTripMs: elapsedMs(trip), granted: true };
    const why = back.length === 0 ? (wire.ended ? 'the tunnel closed before any data came back' : `no data came back within ${step.timeoutMs} ms`) : `other bytes came back than were sent (${back.toString('hex').slice(0, 32)})`;
    return { status: 'refused', reply: statusText(head), reason: `${statusText(head)}, but ${why}`, latencyMs, granted: true };
  });
}

async function tryForward(step: StepOptions, page: PageTarget, credentials: Credentials | undefined): Promise<Attempt> {
  const authority = formatAddress(page);
  return exchange(step, { method: 'GET', target: `http://${authority}/`, host: authority }, credentials, async (wire, head, latencyMs) => {
    if (head.status < 200 || head.status > 299) return { status: 'refused', reply: statusText(head), latencyMs };
    if ((await readBody(wire, head)).includes(page.token)) return { status: 'ok', reply: statusText(head), latencyMs, granted: true };
    return { status: 'refused', reply: statusText(head), reason: `${statusText(head)}, but not with the probe's page: it answers with pages of its own`, latencyMs };
  });
}

interface Credentials { readonly username: string; readonly password: string }
interface Request { readonly method: string; readonly target: string; readonly host: string }

/** One request on a new connection; `after` decides what its response head means. */
async function exchange(step: StepOptions, request: Request, credentials: Credentials | undefined, after: (wire: Wire, head: HttpResponseHead, latencyMs: number) => Promise<CommandDetail>): Promise<Attempt> {
  const wire = await openWire(step.proxy, step.timeoutMs, step.dial);
  if (!('socket' in wire)) return { detail: { status: 'refused', reason: wire.text } };
  try {
    const headers: HttpHeader[] = [{ name: 'Host', value: request.host }];
    if (credentials) headers.push({ name: 'Proxy-Authorization', value: basicCredentials(credentials.username, credentials.password) });
    if (request.method !== 'CONNECT') headers.push({ name: 'Connection', value: 'close' });
    const clock = startClock();
    step.trace?.(`> http ${request.method} ${safeText(request.target)}${credentials ? ` auth=basic user=${safeText(credentials.username)}` : ''}`);
    wire.send(encodeHttpRequestHead({ method: request.method, target: request.target, headers }));
    const read = await wire.read(decodeHttpResponseHead);
    if (!read.ok) return { detail: { status: read.why === 'timeout' ? 'timeout' : 'refused', reason: `no HTTP response to ${request.method}: ${read.text}` } };
    const latencyMs = elapsedMs(clock);
    step.trace?.(`< http ${statusText(read.value)}`);
    return { head: read.value, latencyMs, detail: await after(wire, read.value, latencyMs) };
  } finally {
    wire.destroy();
  }
}

/** A short body: as long as its Content-Length says; else up to where the proxy closes (the request said
 * "Connection: close"). */
async function readBody(wire: Wire, head: HttpResponseHead): Promise<Buffer> {
  const length = Number(fields(head, 'content-length')[0]);
  if (Number.isSafeInteger(length) && length > 0 && length <= 4096) return wire.readBytes(length);
  await wire.closed();
  return wire.unread();
}

function fields(head: HttpResponseHead | undefined, name: string): string[] {
  return head === undefined ? [] : headerValues(head.headers, name);
}

/** `Basic realm="tinyproxy"` → `Basic`. */
function authScheme(challenge: string): string {
  return escapeText(challenge.trim().split(/[\s,]/)[0] ?? '');
}

/** "407 Proxy Authentication Required", escaped: the reason phrase is the peer's text. */
function statusText(head: HttpResponseHead | undefined): string {
  return head === undefined ? 'no response' : escapeText(`${head.status} ${head.reason}`.trim());
}

function notProxyReason(connect: Attempt, forward: Attempt): string {
  const said = (attempt: Attempt): string => attempt.detail.reason ?? `"${statusText(attempt.head)}"`;
  return `an HTTP server, not a proxy: CONNECT got ${said(connect)}, a proxy request (GET http://…) got ${said(forward)}`;
}
