import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import { mentionEvent, nextTs, replyEvent, slackWorld, visible, type SlackWorld } from '../slack/harness.js';

let w: SlackWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

/** The bot's SQLite file, as full as a full disk leaves it: no page may be added. */
async function fillDisk(store: SqliteStore): Promise<Database.Database> {
  const db = (store as unknown as { db: Database.Database }).db;
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  // Fill what room is left in the pages there are, with large rows then small ones, until SQLite answers SQLITE_FULL.
  for (const filler of [() => `${randomUUID()}${'x'.repeat(200)}`, () => randomUUID().slice(0, 8)]) {
    for (;;) {
      try {
        await store.claimEvent(filler(), 86_400_000, Date.now());
      } catch (err) {
        expect((err as { code?: string }).code).toBe('SQLITE_FULL');
        break;
      }
    }
  }
  return db;
}

const health = async (port: number) => {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; reason?: string } };
};

describe('the store cannot be written (disk full)', () => {
  it('people are told to try again, /healthz says why, and all is well once there is room again', async () => {
    w = await slackWorld();
    const saved = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('saved topic', { ts: saved }));
    await expect.poll(() => w!.slack.thread('C1', saved).some((m) => m.text.includes(w!.ds.question.slice(0, 30)))).toBe(true);

    const db = await fillDisk(w.bot.store as SqliteStore);
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('new topic', { ts }));
    await expect.poll(() => w!.slack.thread('C1', ts).map(visible).join()).toMatch(/could not save this/);
    // A reply in a saved thread is not lost silently either.
    await w.slack.sendEvent(w.endpoint, replyEvent('my answer', saved));
    await expect.poll(() => w!.slack.thread('C1', saved).some((m) => /could not save this/.test(visible(m)))).toBe(true);
    const sick = await health(w.bot.port);
    expect(sick.status).toBe(503);
    expect(sick.body.reason).toMatch(/^store: claim event failed: SQLITE_FULL/);
    expect(w.ds.requests).toHaveLength(1);

    db.pragma('max_page_count = 1073741823');
    await w.slack.sendEvent(w.endpoint, replyEvent('my answer, again', saved));
    await expect.poll(() => w!.ds.requests.length).toBe(2);
    expect((await health(w.bot.port)).status).toBe(200);
  });

  it('an unusable STORE_URL names the variable, the path and the cause', () => {
    // A regular file where the path needs a directory (made here, not one of the machine's files).
    const file = join(mkdtempSync(join(tmpdir(), 'drb-')), 'a-file');
    writeFileSync(file, '');
    expect(() => new SqliteStore(`${file}/data/bot.db`)).toThrow(
      `STORE_URL=sqlite:${file}/data/bot.db cannot be used: a directory on the path is missing or is a file (${file}/data)`,
    );
  });
});

describe('a platform call that never answers', () => {
  it('a hung status call does not hold the conversation: the research starts and the report arrives', async () => {
    w = await slackWorld();
    w.slack.hanging.add('assistant.threads.setStatus');
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => w!.slack.thread('C1', ts).some((m) => m.text.includes(w!.ds.question.slice(0, 30)))).toBe(true);
    await w.slack.sendEvent(w.endpoint, replyEvent('go', ts));
    await expect.poll(() => w!.slack.files.length, { timeout: 15_000 }).toBe(1);
    expect(w.slack.callsOf('assistant.threads.setStatus').length).toBeGreaterThan(0);
  });
});
