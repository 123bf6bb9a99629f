// `npm test` drives real programs that Debian packages: Chromium (the console's browser tests),
// PgBouncer (bindery through a transaction pool), Patroni, etcd, HAProxy and PostgreSQL 15
// (failover), podman with runc and mmdebstrap (the container image), Prometheus with promtool
// (the alert rules), python3-fusepy and fuse3 (power cuts) and pgBackRest (point-in-time recovery).
// Whatever is missing is installed here, as root with apt-get, in one go, so that the test command
// works on a fresh machine by itself.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const NEEDED = [
  { what: 'Chromium', path: process.env.BINDERY_CHROMIUM ?? '/usr/bin/chromium', pkg: 'chromium' },
  { what: 'PgBouncer', path: '/usr/sbin/pgbouncer', pkg: 'pgbouncer' },
  // The failover test: a Patroni cluster of Debian's PostgreSQL on etcd, behind HAProxy.
  { what: 'Patroni', path: '/usr/bin/patroni', pkg: 'patroni' },
  { what: 'etcd', path: '/usr/bin/etcd', pkg: 'etcd-server' },
  { what: 'HAProxy', path: '/usr/sbin/haproxy', pkg: 'haproxy' },
  { what: 'PostgreSQL 15', path: '/usr/lib/postgresql/15/bin/postgres', pkg: 'postgresql-15' },
  { what: 'podman', path: '/usr/bin/podman', pkg: 'podman' },
  { what: 'runc', path: '/usr/sbin/runc', pkg: 'runc' },
  { what: 'mmdebstrap', path: '/usr/bin/mmdebstrap', pkg: 'mmdebstrap' },
  { what: 'Prometheus', path: '/usr/bin/prometheus', pkg: 'prometheus' },
  // The power-cut tests' filesystem that forgets what was not fsynced (test/support/lazyfs.py).
  { what: 'python3-fusepy', path: '/usr/lib/python3/dist-packages/fusepy.py', pkg: 'python3-fusepy' },
  { what: 'fusermount3', path: '/usr/bin/fusermount3', pkg: 'fuse3' },
  // Point-in-time recovery of PostgreSQL (test/reliability/pitr.test.ts).
  { what: 'pgBackRest', path: '/usr/bin/pgbackrest', pkg: 'pgbackrest' },
];

const missing = NEEDED.filter((n) => !existsSync(n.path));
if (missing.length === 0) process.exit(0);
const packages = missing.map((n) => n.pkg);
if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
  console.error(
    `The tests need ${missing.map((n) => `${n.what} at ${n.path}`).join(' and ')}. Install ` +
      `${packages.length > 1 ? 'them' : 'it'} (Debian: sudo apt-get install ${packages.join(' ')}) and run npm test again.`,
  );
  process.exit(1);
}
console.error(`Installing Debian's ${packages.join(', ')} for the tests (once)…`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', ...packages],
]) {
  const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (result.status !== 0) {
    console.error(
      `apt-get ${args.join(' ')} failed (exit ${result.status}); install ${packages.join(' ')} by hand and run npm test again.`,
    );
    process.exit(1);
  }
}
