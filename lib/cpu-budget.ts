import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';

/**
 * How many cores this process may use: the CPUs it may run on, capped by its cgroup's CPU quota (a container's
 * `--cpus`), rounded up. `os.availableParallelism()` is not that: libuv (1.52) reads the quota only in part
 * (cgroup v2 at /sys/fs/cgroup alone, rounded down; cgroup v1 only where the controller is named `cpu,cpuacct`,
 * and then at a wrong path; never up a v1 hierarchy): a machine that mounts `cpu` by itself gets no quota at
 * all. Here the CPUs come from the affinity mask and the quota from wherever /proc/self/mountinfo says the
 * hierarchy is; availableParallelism() serves only where /proc has no affinity list (not Linux).
 */
export function cpuBudget(read: (path: string) => string | undefined = readText, cpus: number = allowedCpus(read) ?? availableParallelism()): number {
  const quota = cgroupCpuQuota(read);
  return quota === undefined ? cpus : Math.max(1, Math.min(cpus, Math.ceil(quota)));
}

/** The CPUs in this process's affinity mask, from /proc/self/status's `Cpus_allowed_list: 0-3,8-11`. */
export function allowedCpus(read: (path: string) => string | undefined): number | undefined {
  const list = /^Cpus_allowed_list:[ \t]*(\S+)/m.exec(read('/proc/self/status') ?? '')?.[1];
  if (list === undefined) return undefined;
  let count = 0;
  for (const range of list.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!match) return undefined;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) return undefined;
    count += last - first + 1;
  }
  return count > 0 ? count : undefined;
}

/** The tightest CPU quota (in cores) on this process's cgroup or any cgroup above it, v1 and v2 alike. */
export function cgroupCpuQuota(read: (path: string) => string | undefined): number | undefined {
  const memberships = read('/proc/self/cgroup');
  const mounts = read('/proc/self/mountinfo');
  if (memberships === undefined || mounts === undefined) return undefined;
  let tightest: number | undefined;
  for (const mount of cgroupMounts(mounts)) {
    const path = membershipPath(memberships, mount);
    const dir = path === undefined ? undefined : directoryOf(mount, path);
    for (let at = dir; at !== undefined; at = parentWithin(at, mount.point)) {
      const cores = mount.version === 2 ? quotaV2(read(`${at}/cpu.max`)) : quotaV1(read(`${at}/cpu.cfs_quota_us`), read(`${at}/cpu.cfs_period_us`));
      if (cores !== undefined && (tightest === undefined || cores < tightest)) tightest = cores;
    }
  }
  return tightest;
}

interface CgroupMount {
  readonly version: 1 | 2;
  /** The part of the hierarchy mounted (`/` unless the mount shows a subtree, as some containers do). */
  readonly root: string;
  readonly point: string;
}

/** The cgroup2 mount and the v1 mount that carries the cpu controller, from mountinfo's lines: `id parent
 * dev root point options [optional…] - type source super-options` (proc(5)). */
function cgroupMounts(mountinfo: string): CgroupMount[] {
  const found: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const [, , , root, point] = before.split(' ');
    const [type, , superOptions] = after.split(' ');
    if (root === undefined || point === undefined) continue;
    if (type === 'cgroup2') found.push({ version: 2, root: unescapeMountField(root), point: unescapeMountField(point) });
    else if (type === 'cgroup' && superOptions?.split(',').includes('cpu')) found.push({ version: 1, root: unescapeMountField(root), point: unescapeMountField(point) });
  }
  return found;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** This process's path in the mount's hierarchy, from /proc/self/cgroup's `id:controllers:path` lines. */
function membershipPath(cgroupFile: string, mount: CgroupMount): string | undefined {
  for (const line of cgroupFile.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers, path] = match;
    if (mount.version === 2 ? id === '0' && controllers === '' : controllers!.split(',').includes('cpu')) return path;
  }
  return undefined;
}

function directoryOf(mount: CgroupMount, path: string): string | undefined {
  const relative = posix.relative(mount.root, path);
  if (relative === '..' || relative.startsWith('../')) return undefined;
  return relative === '' ? mount.point : posix.join(mount.point, relative);
}

function parentWithin(dir: string, top: string): string | undefined {
  const parent = posix.dirname(dir);
  return dir === top || parent === dir ? undefined : parent;
}

/** cgroup v2's `cpu.max`: `max 100000` (no limit) or `150000 100000` (1.5 cores). */
function quotaV2(text: string | undefined): number | undefined {
  const [limit, period] = (text ?? '').trim().split(/\s+/);
  return cores(limit === 'max' ? undefined : Number(limit), Number(period));
}

/** cgroup v1: `cpu.cfs_quota_us` is -1 when there is no limit. */
function quotaV1(quota: string | undefined, period: string | undefined): number | undefined {
  return cores(quota === undefined ? undefined : Number(quota.trim()), Number(period?.trim()));
}

function cores(limit: number | undefined, period: number): number | undefined {
  if (limit === undefined || !(limit > 0) || !(period > 0)) return undefined;
  return limit / period;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
