// deploy/ checked by real tools: the systemd unit by systemd-analyze verify, the HAProxy example by
// haproxy -c, the Kubernetes example and the Containerfile by parsing them; and every socx command line in
// them by socx serve --check-config, so that an example cannot drift from the flags.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { requireBinary, run } from '../support/process.ts';
import { ROOT, socxBinary } from '../interop/socx.ts';
import { socxSource, tempFiles } from './cli.ts';

const DEPLOY = path.join(ROOT, 'deploy');
const read = (name: string): string => readFileSync(path.join(DEPLOY, name), 'utf8');
const files = tempFiles();
after(() => files.remove());
const usersFile = files.write('users.txt', 'alice:wonderland\n');

/** socx serve ARGS --check-config: exit 0 and nothing on stderr. */
function assertServeArgs(args: readonly string[], what: string): void {
  const r = socxSource(['serve', ...args, '--check-config']);
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  assert.equal(r.stderr, '', what);
}

describe('deploy/', () => {
  test('socx.service passes systemd-analyze verify, and its ExecStart is a valid serve command', { timeout: 30_000 }, async () => {
    const analyze = requireBinary('systemd-analyze', 'systemd');
    const unit = read('socx.service');
    for (const setting of ['DynamicUser=yes', 'ProtectSystem=strict', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'NoNewPrivileges=yes', 'LimitNOFILE=65536', 'ExecReload=/bin/kill -HUP $MAINPID']) {
      assert.ok(unit.split('\n').includes(setting), setting);
    }
    // verify wants ExecStart's binary to exist: the unit's /usr/local/bin/socx becomes the one just built.
    const copy = files.write('socx.service', unit.replaceAll('/usr/local/bin/socx', socxBinary()), 0o644);
    const r = await run(analyze, ['verify', '--man=no', copy], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no warnings (an unknown key is only a warning)');
    const execStart = /^ExecStart=(\S+) (.*)$/m.exec(unit);
    assert.equal(execStart?.[1], '/usr/local/bin/socx');
    const args = (execStart?.[2] ?? '').split(' ').slice(1)
      .map((arg) => arg.replace('/etc/socx/socx.yaml', path.join(DEPLOY, 'socx.yaml')).replace('${CREDENTIALS_DIRECTORY}/users.txt', usersFile));
    assertServeArgs(args, 'ExecStart');
  });

  test('haproxy.cfg passes haproxy -c and sends PROXY v2 with a /readyz check', { timeout: 30_000 }, async () => {
    const haproxy = requireBinary('/usr/sbin/haproxy', 'haproxy');
    const r = await run(haproxy, ['-c', '-f', path.join(DEPLOY, 'haproxy.cfg')], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString() + r.stderr, /Configuration file is valid/);
    const config = read('haproxy.cfg');
    assert.match(config, /^ {2}mode tcp$/m);
    assert.match(config, /^ {2}option httpchk GET \/readyz$/m);
    assert.match(config, /^ {2}default-server send-proxy-v2 check port 9180 /m);
    // The instance's command line from the comment, with the placeholder filled in.
    const instance = /^# {3}socx serve (.*) \\\n# {5}(.*)$/m.exec(config);
    assert.ok(instance, 'the instance command line');
    const args = `${instance[1]} ${instance[2]}`.replace("<this instance's public address>", '203.0.113.11').replace('/etc/socx/users.txt', usersFile).split(' ');
    assertServeArgs(args, 'the instance behind HAProxy');
  });

  test('kubernetes.yaml: a Deployment with /readyz and /healthz probes, its UDP ports, a Service and a PodDisruptionBudget', () => {
    const docs = parseAllDocuments(read('kubernetes.yaml'));
    assert.ok(Array.isArray(docs));
    for (const doc of docs) assert.deepEqual(doc.errors, []);
    const [deployment, service, budget] = docs.map((doc) => doc.toJS() as Record<string, any>);
    assert.deepEqual([deployment?.kind, service?.kind, budget?.kind], ['Deployment', 'Service', 'PodDisruptionBudget']);
    const pod = deployment?.spec.template;
    assert.deepEqual(deployment?.spec.selector.matchLabels, pod.metadata.labels);
    assert.deepEqual(budget?.spec.selector.matchLabels, pod.metadata.labels);
    assert.deepEqual(service?.spec.selector, pod.metadata.labels);
    const container = pod.spec.containers[0];
    const portNames = new Set(container.ports.map((p: { name: string }) => p.name));
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.ok(portNames.has(container.readinessProbe.httpGet.port) && portNames.has(service?.spec.ports[0].targetPort));
    const args: string[] = container.args.map(String);
    // Every port of --udp-ports is declared as a UDP port of the pod, and no other.
    const [low, high] = (args[args.indexOf('--udp-ports') + 1] ?? '').split('-').map(Number);
    const udp = container.ports.filter((p: { protocol: string }) => p.protocol === 'UDP').map((p: { containerPort: number }) => p.containerPort);
    assert.deepEqual(udp, Array.from({ length: (high ?? 0) - (low ?? 0) + 1 }, (_, i) => (low ?? 0) + i));
    assert.ok(budget?.spec.minAvailable >= 1 && budget?.spec.minAvailable < deployment?.spec.replicas);
    assertServeArgs(args.map((arg) => arg.replace('$(NODE_IP)', '203.0.113.1').replace('/etc/socx/users.txt', usersFile)), 'the container args');
  });

  test('the Containerfile copies dist/socx and its CMD is a valid serve command with the ports it exposes', () => {
    const containerfile = read('Containerfile');
    assert.match(containerfile, /^COPY --from=build \/src\/dist\/socx \/usr\/local\/bin\/socx$/m);
    assert.match(containerfile, /^ENTRYPOINT \["\/usr\/local\/bin\/socx", "serve"\]$/m);
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(containerfile)?.[1] ?? '[]') as string[];
    const range = cmd[cmd.indexOf('--udp-ports') + 1];
    assert.match(containerfile, new RegExp(`^EXPOSE 1080/tcp 9180/tcp ${range}/udp$`, 'm'));
    assertServeArgs(cmd.map((arg) => arg.replace('/etc/socx/users.txt', usersFile)), 'CMD');
  });
});
