import type { Server } from 'node:http';
import type { Config } from './config.js';
import { Engine } from './core/engine.js';
import { silentLogger, type Logger } from './core/ports/logger.js';
import { createHttpServer, listen } from './http.js';
import { createMetrics } from './metrics.js';
import type { FeishuConnection, FeishuOptions } from './platforms/feishu/app.js';
import type { SlackConnection, SlackOptions } from './platforms/slack/app.js';
import type { Platform } from './core/ports/chat.js';
import { budgetSettings, createBackend, followupSettings } from './backend.js';
import type { ResearchBackend } from './core/ports/research.js';
import { SqliteStore } from './store/sqlite.js';
import type { ThreadStore } from './core/ports/store.js';
import { WebPages } from './platforms/web/pages.js';

export interface BotOptions {
  logger?: Logger;
  backend?: ResearchBackend;
  slack?: Pick<SlackOptions, 'budget' | 'clientOptions'>;
  feishu?: Pick<FeishuOptions, 'patchIntervalMs' | 'longConnection' | 'cardkit'>;
  progressIntervalMs?: number;
  host?: string;
}

export interface Bot {
  engine: Engine;
  store: ThreadStore;
  slack?: SlackConnection;
  feishu?: FeishuConnection;
  server: Server;
  port: number;
  /** Graceful stop: running research gets `graceMs` to finish; the rest is left for recovery. */
  stop(graceMs?: number): Promise<void>;
}

/** Composition root: config → store → backend → engine → platforms → HTTP server, then recovery. */
export async function startBot(config: Config, opts: BotOptions = {}): Promise<Bot> {
  const log = opts.logger ?? silentLogger;
  // The cluster's modules (ioredis, BullMQ: tens of MB) are loaded only with a Redis STORE_URL.
  const redis = config.redisUrl ? new (await import('./store/redis.js')).RedisStore(config.redisUrl, { log }) : undefined;
  const store: ThreadStore = redis ?? new SqliteStore(config.storePath);
  const cluster = redis && (await import('./cluster.js')).createCluster(redis, config.redisUrl!, log);
  let engine: Engine | undefined;
  const handle = (inbound: Parameters<Engine['handle']>[0]) => engine!.handle(inbound);
  // Each platform's SDK is loaded only when that platform is configured (Bolt or the Lark SDK alone is tens of MB).
  const slack = config.slack ? (await import('./platforms/slack/app.js')).createSlack(config.slack, { handle, log, sharedRate: cluster?.sharedRate, ...opts.slack }) : undefined;
  const feishu = config.feishu ? (await import('./platforms/feishu/app.js')).createFeishu(config.feishu, { handle, log, sharedRate: cluster?.sharedRate, ...opts.feishu }) : undefined;
  if (config.feishu?.connection === 'webhook' && !config.feishu.encryptKey) log.warn({}, 'FEISHU_ALLOW_TOKEN_ONLY: the Feishu webhook is not signed, so anyone who knows the verification token can forge events; set FEISHU_ENCRYPT_KEY to have Feishu sign them');
  const platforms: Platform[] = [slack?.platform, feishu?.platform].filter((p): p is NonNullable<typeof p> => p !== undefined);
  const pages = config.publicUrl ? new WebPages(store, config.publicUrl, config.reportPageTtlDays) : undefined;
  const metrics = createMetrics({ store, load: () => engine!.load(), platforms: () => platforms, cluster: cluster?.figures });
  // A takeover counts for this process and for the cluster.
  const telemetry = cluster ? { ...metrics.telemetry, takenOver: () => (metrics.telemetry.takenOver(), cluster.countTakeover()) } : metrics.telemetry;
  engine = new Engine({
    store,
    backend: opts.backend ?? createBackend(config, log),
    platforms,
    rules: { clarify: config.research.clarify, answerBy: config.limits.answerBy, maxAttempts: config.research.maxAttempts, language: config.language },
    limits: config.limits,
    format: config.research.format,
    logger: log,
    progressIntervalMs: opts.progressIntervalMs,
    telemetry,
    budget: budgetSettings(config),
    pages,
    followup: followupSettings(config),
    queue: cluster?.queue,
    locks: cluster?.locks,
  });
  const server = createHttpServer({
    slack: slack?.requestListener,
    feishu: feishu?.requestListener,
    reports: pages?.handler,
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    ready: async () => {
      const health = engine!.health();
      if (!health.ready) return health;
      if (!(await store.ping())) return { ready: false, reason: 'store: not answering' };
      if (slack && !slack.connected()) return { ready: false, reason: 'slack: not connected' };
      if (feishu && !feishu.connected()) return { ready: false, reason: 'feishu: not connected' };
      return { ready: true };
    },
  }, { logger: log });
  const port = await listen(server, config.port, opts.host);
  await slack?.start();
  await feishu?.start();
  await engine.recover();
  log.info({ port, platforms: platforms.map((p) => p.name) }, 'bot started');
  return {
    engine,
    store,
    slack,
    feishu,
    server,
    port,
    async stop(graceMs = 0) {
      await engine!.stop(graceMs);
      await Promise.all([slack?.editor.drained(), feishu?.patcher.drained()]);
      await slack?.stop();
      await feishu?.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}
