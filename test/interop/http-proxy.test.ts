// Real HTTP proxy clients against the built `socx serve` (its HTTP side, on the SOCKS port): curl -x http://
// (forwarded GET, CONNECT with -p, --proxy-user, 407, keep-alive across two hosts), Python requests
// (http and https through CONNECT), headless Chromium, proxychains4 with an http proxy line, and socx connect's
// own HTTP CONNECT.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pythonWith, startEchoServer, startHttpServer, startHttpsServer, type Peer } from '../support/peers.ts';
import { requireBinary, run, type RunResult } from '../support/process.ts';
import { Cleanup, describeRun, NO_PROXY_ENV, runSocx, sha256, startSocxServe, waitForOutput, type SocxServer } from './socx.ts';

const T = { timeout: 60_000 };
const BODY = randomBytes(1024 * 1024);
const BODY_SHA = sha256(BODY);
const PAGE = '<html><head><title>socx</title></head><body><p id="marker">through the HTTP proxy</p></body></html>';

describe('HTTP proxy clients through socx serve', () => {
  const cleanup = new Cleanup();
  let curl: string;
  let web: Peer & { requests(): number };
  let web2: Peer;
  let tls: Peer;
  let page: Peer;
  let open: SocxServer;
  let authed: SocxServer;
  let dir: string;

  before(async () => {
    curl = requireBinary('curl');
    web = cleanup.add(await startHttpServer(BODY));
    web2 = cleanup.add(await startHttpServer(Buffer.from('second host\n')));
    tls = cleanup.add(await startHttpsServer(BODY));
    page = cleanup.add(await startHttpServer(Buffer.from(PAGE), 'text/html'));
    open = cleanup.add(await startSocxServe());
    authed = cleanup.add(await startSocxServe(['--auth', 'u:p']));
    dir = await mkdtemp(path.join(os.tmpdir(), 'socx-http-'));
    cleanup.add({ stop: () => rm(dir, { recursive: true, force: true }) });
  });
  after(() => cleanup.run());

  function curlVia(proxy: string, args: string[]): Promise<RunResult> {
    return run(curl, ['-sS', '--max-time', '20', '-x', proxy, ...args], { timeoutMs: 25_000 });
  }

  function assertBody(r: RunResult, what: string, server: SocxServer): void {
    assert.equal(r.code, 0, `${what}: ${describeRun(r, server.output())}`);
    assert.equal(r.stdout.length, BODY.length, `${what}: body length`);
    assert.equal(sha256(r.stdout), BODY_SHA, `${what}: body differs`);
  }

  test('curl -x http:// GET http://… is forwarded: 1 MiB byte-exact, logged as http with its method and status', T, async () => {
    assertBody(await curlVia(`http://${open.authority}`, [`http://127.0.0.1:${web.port}/file`]), 'forwarded GET', open);
    await waitForOutput(open, new RegExp(`\\n\\d{4}-\\S+Z \\S+ http connect 127\\.0\\.0\\.1:${web.port} ok up=\\S+ down=1\\.0MiB \\S+ http_method=GET status=200\\n`));
  });

  test('curl -p -x http:// tunnels with CONNECT: byte-exact, logged as http connect', T, async () => {
    assertBody(await curlVia(`http://${open.authority}`, ['-p', `http://localhost:${web.port}/`]), 'CONNECT tunnel', open);
    await waitForOutput(open, new RegExp(`\\n\\d{4}-\\S+Z \\S+ http connect localhost:${web.port} ok up=\\S+ down=1\\.0MiB `));
  });

  test('curl --proxy-user u:p against serve --auth u:p, forwarded and tunnelled', T, async () => {
    assertBody(await curlVia(`http://${authed.authority}`, ['--proxy-user', 'u:p', `http://127.0.0.1:${web.port}/`]), 'forwarded with login', authed);
    assertBody(await curlVia(`http://${authed.authority}`, ['--proxy-user', 'u:p', '-p', `http://127.0.0.1:${web.port}/`]), 'CONNECT with login', authed);
    await waitForOutput(authed, /user="u" ok/);
  });

  test('curl without or with wrong credentials gets 407, the target sees nothing, the password is not logged', T, async () => {
    const status = ['-o', '/dev/null', '-w', '%{http_connect} %{http_code}'];
    const before = web.requests();
    const none = await curlVia(`http://${authed.authority}`, [...status, `http://127.0.0.1:${web.port}/`]);
    assert.equal(none.stdout.toString(), '000 407', describeRun(none, authed.output()));
    const wrong = await curlVia(`http://${authed.authority}`, [...status, '--proxy-user', 'u:hunter2', '-p', `http://127.0.0.1:${web.port}/`]);
    assert.equal(wrong.stdout.toString(), '407 000', describeRun(wrong, authed.output()));
    await waitForOutput(authed, /user="u" authentication failed/);
    assert.doesNotMatch(authed.output(), /hunter2/);
    assert.equal(web.requests(), before, 'a refused request reached the target');
  });

  test('keep-alive: one curl, two URLs on two hosts, one proxy connection (the same client port in both records)', T, async () => {
    const r = await curlVia(`http://${open.authority}`, [`http://127.0.0.1:${web2.port}/a`, `http://localhost:${web2.port}/b`]);
    assert.equal(r.stdout.toString(), 'second host\nsecond host\n', describeRun(r, open.output()));
    await waitForOutput(open, new RegExp(`localhost:${web2.port} ok`));
    const first = new RegExp(`\\n\\d{4}-\\S+Z (\\S+) http connect 127\\.0\\.0\\.1:${web2.port} ok`).exec(open.output())?.[1];
    const second = new RegExp(`\\n\\d{4}-\\S+Z (\\S+) http connect localhost:${web2.port} ok`).exec(open.output())?.[1];
    assert.ok(first !== undefined && first === second, `one client connection for both requests: ${first} vs ${second}`);
  });

  test('Python requests with proxies={"http", "https"}: http forwarded, https through CONNECT, with credentials', T, async () => {
    const python = await pythonWith('requests', 'python3-requests');
    const script = [
      'import hashlib, sys, requests, urllib3',
      'urllib3.disable_warnings()',
      'proxy = sys.argv[1]',
      'proxies = {"http": proxy, "https": proxy}',
      'for url in sys.argv[2:]:',
      '    r = requests.get(url, proxies=proxies, verify=False, timeout=20)',
      '    print(r.status_code, len(r.content), hashlib.sha256(r.content).hexdigest())',
    ].join('\n');
    const proxy = `http://u:p@${authed.authority}`;
    const r = await run(python, ['-c', script, proxy, `http://127.0.0.1:${web.port}/`, `https://127.0.0.1:${tls.port}/`], { timeoutMs: 40_000 });
    assert.equal(r.code, 0, describeRun(r, authed.output()));
    assert.equal(r.stdout.toString(), `200 ${BODY.length} ${BODY_SHA}\n`.repeat(2));
    await waitForOutput(authed, new RegExp(`http connect 127\\.0\\.0\\.1:${tls.port} user="u" ok`));
  });

  test('headless Chromium --proxy-server=http://… renders a page fetched through socx', T, async () => {
    const chromium = requireBinary('chromium');
    const profile = await mkdtemp(path.join(dir, 'chromium-'));
    const r = await run(chromium, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`,
      `--proxy-server=http://${open.authority}`, '--proxy-bypass-list=<-loopback>', '--dump-dom', `http://127.0.0.1:${page.port}/`,
    ], { timeoutMs: 50_000 });
    assert.match(r.stdout.toString(), /<p id="marker">through the HTTP proxy<\/p>/, describeRun(r, open.output()));
    await waitForOutput(open, new RegExp(`http connect 127\\.0\\.0\\.1:${page.port} ok .* http_method=GET status=200`));
  });

  test('proxychains4 with "http 127.0.0.1 PORT user pass" reaches the target through socx', T, async () => {
    const proxychains = requireBinary('proxychains4', 'proxychains4');
    const conf = path.join(dir, 'proxychains.conf');
    await writeFile(conf, `strict_chain\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nhttp 127.0.0.1 ${authed.port} u p\n`);
    const r = await run(proxychains, ['-q', '-f', conf, curl, '-sS', '--max-time', '20', `http://127.0.0.1:${web.port}/`], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun(r, authed.output()));
    assert.equal(sha256(r.stdout), BODY_SHA);
    await waitForOutput(authed, new RegExp(`http connect 127\\.0\\.0\\.1:${web.port} user="u" ok`));
  });

  test('socx connect -x http://u:p@… (the client\'s HTTP CONNECT) through serve\'s HTTP side, byte-exact both ways', T, async () => {
    const echo = cleanup.add(await startEchoServer());
    const data = randomBytes(256 * 1024);
    const r = await runSocx(['connect', '-x', `http://u:p@${authed.authority}`, '127.0.0.1', String(echo.port)], { input: data, env: NO_PROXY_ENV });
    assert.equal(r.code, 0, describeRun(r, authed.output()));
    assert.equal(sha256(r.stdout), sha256(data));
    await waitForOutput(authed, new RegExp(`http connect 127\\.0\\.0\\.1:${echo.port} user="u" ok up=256\\.0KiB down=256\\.0KiB`));
  });

  test('serve --no-http: curl -x http:// fails, the connection is logged as not SOCKS', T, async () => {
    const off = cleanup.add(await startSocxServe(['--no-http']));
    const r = await curlVia(`http://${off.authority}`, [`http://127.0.0.1:${web.port}/`]);
    assert.equal(r.code, 52, describeRun(r, off.output()));
    await waitForOutput(off, /not a SOCKS request \(first byte 0x47\)/);
  });
});
