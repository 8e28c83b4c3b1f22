import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { RunState, ThreadState } from '../core/ports/thread.js';
import type { Feedback } from '../core/ports/chat.js';
import type { Admission, AdmissionRule, ThreadStore } from '../core/ports/store.js';

/** Versioned migrations: each runs once, in order, inside a transaction; `user_version` records the last. */
const MIGRATIONS: string[] = [
  `CREATE TABLE threads (
     key TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     requester TEXT NOT NULL,
     version INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX threads_state ON threads(state, updated_at);
   CREATE INDEX threads_requester ON threads(requester, state);
   CREATE TABLE events (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   CREATE INDEX events_expiry ON events(expires_at);
   CREATE TABLE daily_runs (user TEXT NOT NULL, day TEXT NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY (user, day));`,
  // The bot's messages by id, so a card callback that carries no value still finds its thread.
  `CREATE TABLE messages (id TEXT PRIMARY KEY, key TEXT NOT NULL);
   INSERT OR IGNORE INTO messages (id, key)
     SELECT json_extract(data, '$.clarifyMessageId'), key FROM threads WHERE json_extract(data, '$.clarifyMessageId') IS NOT NULL;
   INSERT OR IGNORE INTO messages (id, key)
     SELECT json_extract(data, '$.progressMessageId'), key FROM threads WHERE json_extract(data, '$.progressMessageId') IS NOT NULL;`,
  // Each person's latest feedback on a report.
  `CREATE TABLE feedback (thread TEXT NOT NULL, user TEXT NOT NULL, value TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (thread, user));`,
  // Estimated DashScope spend per calendar month (UTC), for MONTHLY_BUDGET_YUAN.
  `CREATE TABLE spend (month TEXT PRIMARY KEY, yuan REAL NOT NULL);`,
  // Report pages (PUBLIC_URL), by their random id.
  `CREATE TABLE pages (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER, data TEXT NOT NULL);`,
  // Sliding-window rate limits (follow-up questions per person per hour).
  `CREATE TABLE hits (bucket TEXT NOT NULL, at INTEGER NOT NULL);
   CREATE INDEX hits_bucket ON hits(bucket, at);`,
];

/** The embedded default store (`STORE_URL=sqlite:path`): one file, WAL, synchronous writes. */
export class SqliteStore implements ThreadStore {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly admitTx: (state: ThreadState, rule: AdmissionRule) => Admission;
  private readonly hitTx: (bucket: string, limit: number, windowMs: number, now: number) => boolean;
  private claims = 0;
  private readonly busyStmts = new Map<number, Database.Statement<unknown[], { n: number }>>();

  constructor(path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
    } catch (err) {
      throw new StoreOpenError(path, err);
    }
    this.stmts = {
      claim: this.db.prepare('INSERT INTO events (id, expires_at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET expires_at = excluded.expires_at WHERE events.expires_at <= ?'),
      purge: this.db.prepare('DELETE FROM events WHERE expires_at <= ?'),
      get: this.db.prepare<[string], { data: string; version: number }>('SELECT data, version FROM threads WHERE key = ?'),
      insert: this.db.prepare('INSERT INTO threads (key, state, requester, version, updated_at, data) VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT(key) DO NOTHING'),
      update: this.db.prepare('UPDATE threads SET state = ?, requester = ?, version = version + 1, updated_at = ?, data = ? WHERE key = ? AND version = ?'),
      countRun: this.db.prepare('INSERT INTO daily_runs (user, day, runs) VALUES (?, ?, 1) ON CONFLICT(user, day) DO UPDATE SET runs = runs + 1'),
      runsOn: this.db.prepare<[string, string], { runs: number }>('SELECT runs FROM daily_runs WHERE user = ? AND day = ?'),
      message: this.db.prepare('INSERT OR IGNORE INTO messages (id, key) VALUES (?, ?)'),
      threadOfMessage: this.db.prepare<[string], { key: string }>('SELECT key FROM messages WHERE id = ?'),
      feedback: this.db.prepare('INSERT INTO feedback (thread, user, value, at) VALUES (?, ?, ?, ?) ON CONFLICT(thread, user) DO UPDATE SET value = excluded.value, at = excluded.at'),
      savePage: this.db.prepare('INSERT INTO pages (id, created_at, expires_at, data) VALUES (?, ?, ?, ?)'),
      getPage: this.db.prepare<[string, number], { data: string }>('SELECT data FROM pages WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)'),
      addSpend: this.db.prepare('INSERT INTO spend (month, yuan) VALUES (?, ?) ON CONFLICT(month) DO UPDATE SET yuan = yuan + excluded.yuan'),
      spentIn: this.db.prepare<[string], { yuan: number }>('SELECT yuan FROM spend WHERE month = ?'),
      countFeedback: this.db.prepare<[], { value: Feedback; n: number }>('SELECT value, COUNT(*) AS n FROM feedback GROUP BY value'),
      dropHits: this.db.prepare('DELETE FROM hits WHERE bucket = ? AND at <= ?'),
      countHits: this.db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM hits WHERE bucket = ?'),
      addHit: this.db.prepare('INSERT INTO hits (bucket, at) VALUES (?, ?)'),
    };
    this.hitTx = this.db.transaction((bucket: string, limit: number, windowMs: number, now: number): boolean => {
      this.stmts.dropHits.run(bucket, now - windowMs);
      if ((this.stmts.countHits.get(bucket)?.n ?? 0) >= limit) return false;
      this.stmts.addHit.run(bucket, now);
      return true;
    }).immediate;
    // IMMEDIATE: the write lock is taken before the counts are read, so no other process can slip in between.
    this.admitTx = this.db.transaction((state: ThreadState, rule: AdmissionRule): Admission => {
      const busy = this.busyCount(rule.busy.length).get(state.requester, state.key, ...rule.busy);
      if ((busy?.n ?? 0) >= rule.perUser) return { ok: false, reason: 'per-user' };
      if (rule.countDaily && rule.dailyLimit > 0 && (this.stmts.runsOn.get(state.requester, rule.day)?.runs ?? 0) >= rule.dailyLimit) {
        return { ok: false, reason: 'daily' };
      }
      const saved = this.saveSync(state);
      if (!saved) return { ok: false, reason: 'conflict' };
      if (rule.countDaily) this.stmts.countRun.run(state.requester, rule.day);
      return { ok: true, state: saved };
    }).immediate;
  }


  /** The busy-threads count for `states` states, prepared once per number of states (not on every admission). */
  private busyCount(states: number): Database.Statement<unknown[], { n: number }> {
    let stmt = this.busyStmts.get(states);
    if (!stmt) {
      stmt = this.db.prepare<unknown[], { n: number }>(`SELECT COUNT(*) AS n FROM threads WHERE requester = ? AND key != ? AND state IN (${Array(states).fill('?').join(',')})`);
      this.busyStmts.set(states, stmt);
    }
    return stmt;
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    MIGRATIONS.slice(current).forEach((sql, i) => {
      this.db.transaction(() => {
        this.db.exec(sql);
        this.db.pragma(`user_version = ${current + i + 1}`);
      })();
    });
  }

  async claimEvent(id: string, ttlMs: number, now: number): Promise<boolean> {
    if (++this.claims % 1000 === 0) this.stmts.purge.run(now);
    return this.stmts.claim.run(id, now + ttlMs, now).changes === 1;
  }

  async get(key: string): Promise<ThreadState | undefined> {
    const row = this.stmts.get.get(key);
    return row ? { ...(JSON.parse(row.data) as ThreadState), version: row.version } : undefined;
  }

  async save(state: ThreadState): Promise<ThreadState | undefined> {
    return this.db.transaction(() => this.saveSync(state))();
  }

  async admit(state: ThreadState, rule: AdmissionRule): Promise<Admission> {
    return this.admitTx(state, rule);
  }

  async saveFeedback(thread: string, user: string, value: Feedback, now: number): Promise<void> {
    this.stmts.feedback.run(thread, user, value, now);
  }

  async countFeedback(): Promise<Record<Feedback, number>> {
    const counts: Record<Feedback, number> = { good: 0, bad: 0 };
    for (const row of this.stmts.countFeedback.all()) counts[row.value] = row.n;
    return counts;
  }

  async savePage(id: string, data: string, createdAt: number, expiresAt?: number): Promise<void> {
    this.stmts.savePage.run(id, createdAt, expiresAt ?? null, data);
  }

  async getPage(id: string, now: number): Promise<string | undefined> {
    return this.stmts.getPage.get(id, now)?.data;
  }

  async addSpend(month: string, yuan: number): Promise<void> {
    this.stmts.addSpend.run(month, yuan);
  }

  async spentIn(month: string): Promise<number> {
    return this.stmts.spentIn.get(month)?.yuan ?? 0;
  }

  async threadOfMessage(messageId: string): Promise<string | undefined> {
    return this.stmts.threadOfMessage.get(messageId)?.key;
  }

  private saveSync(state: ThreadState): ThreadState | undefined {
    const saved = { ...state, version: state.version + 1 };
    const data = JSON.stringify(saved);
    const changes =
      state.version === 0
        ? this.stmts.insert.run(state.key, state.state, state.requester, state.updatedAt, data).changes
        : this.stmts.update.run(state.state, state.requester, state.updatedAt, data, state.key, state.version).changes;
    if (changes !== 1) return undefined;
    for (const id of [state.clarifyMessageId, state.progressMessageId]) if (id) this.stmts.message.run(id, state.key);
    return saved;
  }

  async hit(bucket: string, limit: number, windowMs: number, now: number): Promise<boolean> {
    return this.hitTx(bucket, limit, windowMs, now);
  }

  async inStates(states: RunState[], updatedSince = 0): Promise<ThreadState[]> {
    const rows = this.db
      .prepare<(string | number)[], { data: string; version: number }>(
        `SELECT data, version FROM threads WHERE state IN (${states.map(() => '?').join(',')}) AND updated_at >= ? ORDER BY updated_at`,
      )
      .all(...states, updatedSince);
    return rows.map((r) => ({ ...(JSON.parse(r.data) as ThreadState), version: r.version }));
  }

  async countByState(): Promise<Partial<Record<RunState, number>>> {
    const rows = this.db.prepare<[], { state: RunState; n: number }>('SELECT state, COUNT(*) AS n FROM threads GROUP BY state').all();
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  async runsOn(user: string, day: string): Promise<number> {
    return this.stmts.runsOn.get(user, day)?.runs ?? 0;
  }

  async ping(): Promise<boolean> {
    return this.db.prepare('SELECT 1 AS ok').get() !== undefined;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** The store file cannot be used: names STORE_URL, the path and the cause in words. */
export class StoreOpenError extends Error {
  constructor(path: string, cause: unknown) {
    super(`STORE_URL=sqlite:${path} cannot be used: ${describe(cause)}.`, { cause });
    this.name = 'StoreOpenError';
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; path?: string };
  const where = e.path ? ` (${e.path})` : '';
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
    case 'SQLITE_CANTOPEN':
      return `permission denied or the file cannot be opened${where}; check that the directory exists and the bot's user may write to it`;
    case 'EROFS':
    case 'SQLITE_READONLY':
      return `the file system is read-only${where}; put the store on a writable volume`;
    case 'ENOTDIR':
    case 'ENOENT':
      return `a directory on the path is missing or is a file${where}`;
    case 'ENOSPC':
    case 'SQLITE_FULL':
      return 'the disk is full';
    case 'SQLITE_NOTADB':
    case 'SQLITE_CORRUPT':
      return 'the file is not a SQLite database or is damaged';
    default:
      return e.message ?? String(err);
  }
}
