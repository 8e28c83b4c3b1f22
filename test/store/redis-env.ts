import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { redisReachable } from './redis-probe.js';

/**
 * The real Redis the Redis tests talk to: `REDIS_TEST_URL`, or the local one every machine of the project and CI
 * run. Each test file keeps its keys under a prefix of its own and deletes them afterwards.
 */
export const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

export { redisReachable } from './redis-probe.js';

/**
 * Says loudly that a file's Redis tests are skipped when Redis is unreachable; in CI (`CI` set) that is a failure,
 * registered as a failing test of the file.
 */
export function requireRedis(reachable: boolean, what: string): void {
  if (reachable) return;
  const bar = '!'.repeat(100);
  console.warn(
    `\n${bar}\n!!! ${what}: SKIPPED, no Redis answers at ${REDIS_URL}.\n` +
      `!!! Start one (redis-server --daemonize yes --port 6379 --save '' --appendonly no) or set REDIS_TEST_URL.\n${bar}\n`,
  );
  if (process.env.CI) {
    it(`${what} needs a reachable Redis in CI (${REDIS_URL})`, () => {
      expect.fail(`No Redis answers at ${REDIS_URL}: in CI the Redis tests must run, not be skipped (.ci/run starts redis-server).`);
    });
  }
}

/** A key prefix unique to this run of a test file. */
export function runPrefix(file: string): string {
  return `drbtest:${file}:${process.pid}:${randomUUID().slice(0, 8)}:`;
}

export { deleteKeys } from './redis-probe.js';

/**
 * A redis-server of a test's own on a free port, to kill, stop and start again. `persist`: every write goes to an
 * append-only file at once, so a server killed and started again still has it all.
 */
export class OwnRedis {
  server: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'drb-redis-'));

  constructor(
    readonly port: number,
    private readonly persist = false,
  ) {}

  static installed(): boolean {
    return spawnSync('redis-server', ['--version']).status === 0;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const files = this.persist ? ['--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    this.server = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...files], { stdio: 'ignore' });
    await expect.poll(() => redisReachable(this.url, 300), { timeout: 10_000 }).toBe(true);
  }

  /** SIGKILL (gone; waits until it has exited), SIGSTOP (hangs) or SIGCONT (answers again). */
  async signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    const server = this.server;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = signal === 'SIGKILL' ? new Promise((r) => server.once('exit', r)) : undefined;
    server.kill(signal);
    await exited;
  }
}
