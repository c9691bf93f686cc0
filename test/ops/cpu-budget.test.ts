/** `--workers auto` and bench's generator count in a container: the CPUs a process may use, capped by its
 * cgroup's CPU quota wherever the hierarchy is mounted (v1 or v2, a subtree or the whole), up the hierarchy. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allowedCpus, cgroupCpuQuota, cpuBudget } from '../../lib/cpu-budget.ts';

const V2_MOUNT = '29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate';
const v1Mount = (root: string, point: string, controllers: string): string => `33 31 0:30 ${root} ${point} rw,nosuid,relatime shared:9 - cgroup cgroup rw,${controllers}`;
const PROC = '23 1 0:21 / /proc rw,nosuid - proc proc rw';

function files(entries: Record<string, string>): (path: string) => string | undefined {
  return (path) => entries[path];
}

describe('cgroup CPU quota', () => {
  test('v2 with a cgroup namespace (docker --cpus 1.5): cpu.max at the mount itself, rounded up', () => {
    const read = files({
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': `${PROC}\n${V2_MOUNT}\n`,
      '/sys/fs/cgroup/cpu.max': '150000 100000\n',
    });
    assert.equal(cgroupCpuQuota(read), 1.5);
    assert.equal(cpuBudget(read, 4), 2);
  });

  test('v2: the tightest quota on the way up wins (a limited slice above an unlimited leaf)', () => {
    const read = files({
      '/proc/self/cgroup': '0::/system.slice/socx.service\n',
      '/proc/self/mountinfo': `${V2_MOUNT}\n`,
      '/sys/fs/cgroup/system.slice/socx.service/cpu.max': 'max 100000\n',
      '/sys/fs/cgroup/system.slice/cpu.max': '100000 100000\n',
      '/sys/fs/cgroup/cpu.max': '300000 100000\n',
    });
    assert.equal(cgroupCpuQuota(read), 1);
    assert.equal(cpuBudget(read, 8), 1);
  });

  test('v1 with cpu and cpuacct mounted together, no namespace: the path below the mount', () => {
    const read = files({
      '/proc/self/cgroup': '5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n',
      '/proc/self/mountinfo': `${v1Mount('/', '/sys/fs/cgroup/cpu,cpuacct', 'cpu,cpuacct')}\n`,
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '200000\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us': '-1\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuQuota(read), 2);
    assert.equal(cpuBudget(read, 16), 2);
  });

  test('v1 with the container\'s own subtree mounted (mountinfo root /docker/abc): the mount point is the cgroup', () => {
    const read = files({
      '/proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n',
      '/proc/self/mountinfo': `${v1Mount('/docker/abc', '/sys/fs/cgroup/cpu,cpuacct', 'cpu,cpuacct')}\n`,
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '50000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuQuota(read), 0.5);
    assert.equal(cpuBudget(read, 2), 1, 'half a core still gets one');
  });

  test('a hybrid machine (this one\'s layout): cpu on its own v1 mount, an empty unified hierarchy beside it', () => {
    const read = files({
      '/proc/self/cgroup': '3:cpuset:/\n2:cpuacct:/\n1:cpu:/socx/inner\n0::/\n',
      '/proc/self/mountinfo': [v1Mount('/', '/sys/fs/cgroup/cpu', 'cpu'), v1Mount('/', '/sys/fs/cgroup/cpuacct', 'cpuacct'), '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw'].join('\n'),
      '/sys/fs/cgroup/cpu/socx/inner/cpu.cfs_quota_us': '-1\n',
      '/sys/fs/cgroup/cpu/socx/inner/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpu/socx/cpu.cfs_quota_us': '100000\n',
      '/sys/fs/cgroup/cpu/socx/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/unified/cgroup.controllers': '',
    });
    assert.equal(cgroupCpuQuota(read), 1);
    assert.equal(cpuBudget(read, 2), 1);
  });

  test('mountinfo\'s octal escapes in a mount point are undone', () => {
    const read = files({
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': '29 23 0:26 / /mnt/cg\\040v2 rw - cgroup2 cgroup2 rw\n',
      '/mnt/cg v2/cpu.max': '100000 100000\n',
    });
    assert.equal(cgroupCpuQuota(read), 1);
  });

  test('no quota, no cgroup files, or nonsense in them: the CPUs alone', () => {
    const unlimited = files({
      '/proc/self/cgroup': '0::/a\n',
      '/proc/self/mountinfo': `${V2_MOUNT}\n`,
      '/sys/fs/cgroup/a/cpu.max': 'max 100000\n',
    });
    assert.equal(cgroupCpuQuota(unlimited), undefined);
    assert.equal(cpuBudget(unlimited, 3), 3);
    assert.equal(cpuBudget(files({}), 3), 3);
    const nonsense = files({
      '/proc/self/cgroup': '0::/\n1:cpu:/\n',
      '/proc/self/mountinfo': `${V2_MOUNT}\n${v1Mount('/', '/sys/fs/cgroup/cpu', 'cpu')}\n`,
      '/sys/fs/cgroup/cpu.max': '100000 0\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': 'lots\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuQuota(nonsense), undefined);
  });

  test('a process outside the mounted subtree reads nothing there, and a quota above the CPUs changes nothing', () => {
    const outside = files({
      '/proc/self/cgroup': '1:cpu:/other\n',
      '/proc/self/mountinfo': `${v1Mount('/docker/abc', '/sys/fs/cgroup/cpu', 'cpu')}\n`,
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuQuota(outside), undefined);
    const generous = files({
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': `${V2_MOUNT}\n`,
      '/sys/fs/cgroup/cpu.max': '800000 100000\n',
    });
    assert.equal(cpuBudget(generous, 2), 2);
  });

  test('the CPUs come from the affinity list, so that a quota of 1.5 gives 2 (libuv, rounding down, says 1)', () => {
    const status = (list: string): string => `Name:\tsocx\nCpus_allowed:\tff0f\nCpus_allowed_list:\t${list}\nMems_allowed_list:\t0\n`;
    assert.equal(allowedCpus(files({ '/proc/self/status': status('0-3,8-11') })), 8);
    assert.equal(allowedCpus(files({ '/proc/self/status': status('5') })), 1);
    assert.equal(allowedCpus(files({ '/proc/self/status': status('0,2,4-5') })), 4);
    for (const nonsense of ['3-1', 'a-b', '', '0,,1']) assert.equal(allowedCpus(files({ '/proc/self/status': status(nonsense) })), undefined, nonsense);
    assert.equal(allowedCpus(files({})), undefined);
    const read = files({
      '/proc/self/status': status('0-3'),
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': `${V2_MOUNT}\n`,
      '/sys/fs/cgroup/cpu.max': '150000 100000\n',
    });
    assert.equal(cpuBudget(read), 2);
  });

  test('on this machine, at least one and never more than the CPUs', () => {
    const budget = cpuBudget();
    assert.ok(Number.isInteger(budget) && budget >= 1, String(budget));
    assert.ok(budget <= cpuBudget(() => undefined), String(budget));
  });
});
