/**
 * A real high-availability PostgreSQL on loopback, as teams run it: one etcd member, two Patroni
 * nodes managing Debian's PostgreSQL 15 (streaming replication, automatic failover) and HAProxy
 * sending connections to whichever node Patroni's REST API calls the primary. The packages are
 * installed by `npm test`'s pretest (scripts/ensure-packages.js).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort, serverUser } from './postgres-server.ts';

const PG_BIN = '/usr/lib/postgresql/15/bin';

interface Node {
  name: string;
  restPort: number;
  pgPort: number;
  dataDir: string;
  config: string;
  patroni: ChildProcess | null;
}

export class PatroniCluster {
  private readonly children: ChildProcess[] = [];
  private log = '';

  private constructor(
    private readonly dir: string,
    readonly nodes: Node[],
    readonly proxyPort: number,
    private readonly user: { uid: number; gid: number } | undefined,
  ) {}

  /**
   * Starts etcd, two Patroni nodes and HAProxy; resolves once the proxy reaches a writable primary.
   * A cluster that does not get there in time (a port taken meanwhile by another test's server, a
   * loaded box) is torn down and started afresh once; nothing is left running on failure.
   */
  static async start(): Promise<PatroniCluster> {
    let failure: unknown;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const cluster = await PatroniCluster.launch();
      try {
        await cluster.waitWritable(60_000);
        return cluster;
      } catch (error) {
        failure = error;
        await cluster.destroy();
      }
    }
    throw failure;
  }

  private static async launch(): Promise<PatroniCluster> {
    const dir = join(tmpdir(), `bindery-patroni-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir, { mode: 0o755 });
    const user = serverUser();
    const [etcdClient, etcdPeer, proxyPort] = [await freePort(), await freePort(), await freePort()];
    const nodes: Node[] = [];
    for (const name of ['node1', 'node2']) {
      const node = { name, restPort: await freePort(), pgPort: await freePort(), patroni: null };
      nodes.push({ ...node, dataDir: join(dir, name), config: join(dir, `${name}.yml`) });
    }
    const cluster = new PatroniCluster(dir, nodes, proxyPort, user);
    cluster.spawn('etcd', '/usr/bin/etcd', [
      '--name=etcd1',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=etcd1=http://127.0.0.1:${etcdPeer}`,
    ]);
    for (const node of nodes) writeFileSync(node.config, patroniConfig(node, dir, etcdClient));
    writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(nodes, proxyPort));
    if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    for (const node of nodes) cluster.startNode(node);
    cluster.spawn('haproxy', '/usr/sbin/haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')]);
    return cluster;
  }

  /** postgres://… through HAProxy, to the primary whichever node it is. */
  url(database: string): string {
    return `postgres://postgres:bindery@127.0.0.1:${this.proxyPort}/${database}`;
  }

  async createDatabase(name: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** The node Patroni calls the primary now, if any. */
  async leader(): Promise<Node | undefined> {
    for (const node of this.nodes) {
      const answer = await fetch(`http://127.0.0.1:${node.restPort}/primary`).catch(() => undefined);
      if (answer?.status === 200) return node;
    }
    return undefined;
  }

  /** A crash of the leader's machine: kill -9 of its Patroni and of its postmaster. */
  async kill9(node: Node): Promise<void> {
    const postmaster = Number(readFileSync(join(node.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    node.patroni?.kill('SIGKILL');
    process.kill(postmaster, 'SIGKILL');
    node.patroni = null;
  }

  /** A planned switchover through Patroni's REST API, to the other node. */
  async switchover(): Promise<{ from: string; to: string }> {
    const from = await this.leader();
    const to = this.nodes.find((n) => n !== from);
    if (!from || !to) throw new Error('no leader to switch over from');
    const answer = await fetch(`http://127.0.0.1:${from.restPort}/switchover`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ leader: from.name, candidate: to.name }),
    });
    if (answer.status !== 200) throw new Error(`switchover refused: ${answer.status} ${await answer.text()}`);
    return { from: from.name, to: to.name };
  }

  /** Restarts a killed node's Patroni: it rejoins as a replica of the new leader. */
  restart(node: Node): void {
    this.startNode(node);
  }

  /** Resolves once the other node runs, caught up, as the synchronous standby (what a failover may promote). */
  async waitSyncStandby(timeoutMs: number): Promise<void> {
    const started = Date.now();
    for (;;) {
      for (const node of this.nodes) {
        const answer = await fetch(`http://127.0.0.1:${node.restPort}/cluster`).catch(() => undefined);
        const members = answer?.ok
          ? ((await answer.json()) as { members: { role: string; state: string; lag?: number }[] }).members
          : [];
        if (members.some((m) => m.role === 'sync_standby' && m.state === 'running' && m.lag === 0)) return;
      }
      if (Date.now() - started > timeoutMs) throw new Error(`no synchronous standby in ${timeoutMs} ms`);
      await sleep(250);
    }
  }

  /** Resolves once a write through the proxy commits. */
  async waitWritable(timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const client = new pg.Client({ connectionString: this.url('postgres'), connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        const { rows } = await client.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering');
        if (rows[0]?.recovering === false) return Date.now() - started;
      } catch {
        // Not yet.
      } finally {
        await client.end().catch(() => undefined);
      }
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          `no writable primary through HAProxy in ${timeoutMs} ms:\n${this.postgresLogs()}\n` +
            this.log
              .split('\n')
              .filter((line) => /INFO|WARNING|ERROR|FATAL|CRITICAL/.test(line) && !/Exception happened/.test(line))
              .slice(-40)
              .join('\n'),
        );
      }
      await sleep(250);
    }
  }

  async destroy(): Promise<void> {
    for (const node of this.nodes) {
      try {
        const pid = Number(readFileSync(join(node.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        process.kill(pid, 'SIGKILL');
      } catch {
        // Not running.
      }
    }
    const exits = this.children
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of this.children) child.kill('SIGKILL');
    await Promise.race([Promise.all(exits), sleep(5000)]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The end of each node's PostgreSQL log, for a failure's message. */
  private postgresLogs(): string {
    return this.nodes
      .map((node) => {
        const dir = join(this.dir, `${node.name}-log`);
        try {
          const files = readdirSync(dir).sort();
          return `${node.name} postgres log:\n${readFileSync(join(dir, files.at(-1)!), 'utf8').slice(-1500)}`;
        } catch {
          return `${node.name}: no postgres log`;
        }
      })
      .join('\n');
  }

  private startNode(node: Node): void {
    node.patroni = this.spawn(node.name, '/usr/bin/patroni', [node.config], this.user);
  }

  private spawn(name: string, command: string, args: string[], user?: { uid: number; gid: number }): ChildProcess {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // PostgreSQL's programs (initdb) fail in a directory their user cannot enter, such as a
      // checkout in a 0700 temp dir of root's: run everything from the cluster's own directory.
      cwd: this.dir,
      env: { ...process.env, HOME: this.dir },
      ...(user ?? {}),
    });
    const keep = (chunk: Buffer) => {
      this.log = `${this.log}${name}: ${chunk.toString()}`.slice(-50_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.children.push(child);
    return child;
  }
}

function patroniConfig(node: Node, dir: string, etcdPort: number): string {
  return `scope: bindery-test
name: ${node.name}
restapi:
  listen: 127.0.0.1:${node.restPort}
  connect_address: 127.0.0.1:${node.restPort}
etcd3:
  hosts: 127.0.0.1:${etcdPort}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    # A commit is acknowledged once the standby has it: a failover loses no acknowledged change.
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 128MB
        wal_log_hints: 'on'
  initdb:
    - encoding: UTF8
    - locale: C
  pg_hba:
    - local all all trust
    - host replication all 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${node.pgPort}
  connect_address: 127.0.0.1:${node.pgPort}
  data_dir: ${node.dataDir}
  bin_dir: ${PG_BIN}
  pgpass: ${join(dir, `${node.name}.pgpass`)}
  authentication:
    superuser:
      username: postgres
      password: bindery
    replication:
      username: postgres
      password: bindery
    rewind:
      username: postgres
      password: bindery
  parameters:
    unix_socket_directories: '${dir}'
    max_connections: 200
    logging_collector: 'on'
    log_directory: '${join(dir, `${node.name}-log`)}'
tags:
  nofailover: false
  noloadbalance: false
`;
}

function haproxyConfig(nodes: Node[], port: number): string {
  return `global
  maxconn 500
defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 1s
listen primary
  bind 127.0.0.1:${port}
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
${nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.pgPort} maxconn 200 check port ${n.restPort}`).join('\n')}
`;
}
