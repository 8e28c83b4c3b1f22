import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Limits } from '../../src/core/admission.js';
import type { BudgetSettings } from '../../src/core/budget.js';
import { Engine } from '../../src/core/engine.js';
import type { Rules } from '../../src/core/conversation.js';
import { noTelemetry, type Telemetry } from '../../src/core/ports/telemetry.js';
import { createQwenBackend } from '../../src/research/qwen.js';
import { DashScopeFollowupModel } from '../../src/research/followup-model.js';
import type { ResearchBackend } from '../../src/core/ports/research.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ThreadStore } from '../../src/core/ports/store.js';
import type { FileRef, Inbound } from '../../src/core/ports/chat.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform } from '../fakes/recording-platform.js';

export const RULES: Rules = { clarify: true, answerBy: 'requester', maxAttempts: 2, language: 'auto' };
export const LIMITS: Limits = { maxConcurrent: 3, perUser: 1, dailyPerUser: 0, allowedChannels: [], allowedUsers: [] };

/** A port nothing listens on now, for a bot whose PUBLIC_URL must name its port before it starts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

export function tempDbPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'drb-')), 'bot.db');
}

/** An engine over a SQLite file, the real qwen client and the fake DashScope, with a recording platform. */
export function makeEngine(
  fake: FakeDashScope,
  opts: {
    dbPath?: string;
    /** Another store than a SQLite file (the Redis store). */
    store?: ThreadStore;
    rules?: Partial<Rules>;
    limits?: Partial<Limits>;
    platform?: RecordingPlatform;
    backend?: ResearchBackend;
    telemetry?: Partial<Telemetry>;
    budget?: BudgetSettings;
    clock?: () => number;
    /** Follow-up questions answered by the real chat client against the fake (qwen-plus at its list price). */
    followup?: { limitPerHour?: number };
  } = {},
) {
  const store = opts.store ?? new SqliteStore(opts.dbPath ?? tempDbPath());
  const platform = opts.platform ?? new RecordingPlatform();
  const backend =
    opts.backend ?? createQwenBackend({ baseUrl: fake.url, apiKey: 'sk-test', model: 'qwen-deep-research', idleTimeoutMs: 5000, retries: 1, retryBaseMs: 5 });
  const engine = new Engine({
    store,
    backend,
    platforms: [platform],
    rules: { ...RULES, ...opts.rules },
    limits: { ...LIMITS, ...opts.limits },
    format: 'detailed',
    progressIntervalMs: 20,
    postRetryDelaysMs: [5, 20],
    telemetry: { ...noTelemetry, ...opts.telemetry },
    budget: opts.budget,
    clock: opts.clock,
    followup: opts.followup && {
      model: new DashScopeFollowupModel({ baseUrl: fake.url, apiKey: 'sk-test', model: 'qwen-plus', idleTimeoutMs: 5000, retries: 0 }),
      limitPerHour: opts.followup.limitPerHour ?? 20,
      budget: { model: 'qwen-plus', price: { inputPerM: 0.8, outputPerM: 2 } },
    },
  });
  return { engine, store, platform };
}

let seq = 0;
export function mention(thread: string, text: string, user = 'U1', channel = 'C1', files?: FileRef[]): Inbound {
  return { platform: 'test', kind: 'mention', thread, eventId: `e${++seq}`, user, channel, text, files };
}
export function reply(thread: string, text: string, user = 'U1'): Inbound {
  return { platform: 'test', kind: 'reply', thread, eventId: `e${++seq}`, user, channel: 'C1', text };
}
export function action(thread: string, name: 'answer' | 'start-now' | 'cancel' | 'retry' | 'further', user = 'U1', text?: string): Inbound {
  return { platform: 'test', kind: 'action', action: name, thread, eventId: `e${++seq}`, user, channel: 'C1', text };
}
