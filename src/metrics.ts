import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Telemetry } from './core/ports/telemetry.js';
import type { Platform } from './core/ports/chat.js';
import type { ThreadStore } from './core/ports/store.js';

export interface MetricsSources {
  store: ThreadStore;
  load: () => { running: number; queued: number };
  platforms: () => Platform[];
  /** A cluster's figures, read from Redis when scraped: the research queue and what was taken over. */
  cluster?: () => Promise<ClusterFigures>;
}

export interface ClusterFigures {
  waiting: number;
  active: number;
  /** Research jobs found stalled (their process died) since the queue was created. */
  stalled: number;
  /** Runs taken over from a dead process (run again, or their report delivered). */
  reruns: number;
}

export interface Metrics {
  registry: Registry;
  telemetry: Telemetry;
}

/**
 * Prometheus metrics on their own registry: conversations by state, the research queue, DashScope errors by
 * code, platform API errors and rate-limit hits, tokens used, and Node's process metrics (memory, CPU,
 * event-loop delay). Gauges are read when scraped.
 */
export function createMetrics(src: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'drb_' });
  new Gauge({
    name: 'drb_threads',
    help: 'Conversations by state.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [state, n] of Object.entries(await src.store.countByState())) this.set({ state }, n ?? 0);
    },
  });
  new Gauge({
    name: 'drb_report_feedback',
    help: "Feedback on reports: each person's latest click per report.",
    labelNames: ['value'],
    registers: [registry],
    async collect() {
      for (const [value, n] of Object.entries(await src.store.countFeedback())) this.set({ value }, n);
    },
  });
  new Gauge({
    name: 'drb_research_runs',
    help: 'Research runs streaming now (running) and waiting for a slot (queued).',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const { running, queued } = src.load();
      this.set({ status: 'running' }, running);
      this.set({ status: 'queued' }, queued);
    },
  });
  const platformGauge = (name: string, help: string, read: (p: Platform) => [Record<string, string>, number][]) =>
    new Gauge({
      name,
      help,
      labelNames: ['platform', 'code'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of src.platforms()) for (const [labels, n] of read(p)) this.set({ platform: p.name, ...labels }, n);
      },
    });
  platformGauge('drb_platform_api_errors', 'Chat platform API calls refused since start, by error code.', (p) =>
    [...(p.stats?.errors ?? [])].map(([code, n]) => [{ code }, n]),
  );
  platformGauge('drb_platform_rate_limited', 'Chat platform rate-limit answers (429 and the like) since start.', (p) => [[{}, p.stats?.rateLimited ?? 0]]);
  platformGauge('drb_platform_token_refreshes', 'Access tokens refused and fetched again since start.', (p) => [[{}, p.stats?.tokenRefreshes ?? 0]]);
  const failures = new Counter({ name: 'drb_research_failures_total', help: 'Research runs that failed, by error code.', labelNames: ['code'], registers: [registry] });
  const refused = new Counter({ name: 'drb_requests_refused_total', help: 'Requests refused by a cap or an allow-list.', registers: [registry] });
  const postFailures = new Counter({ name: 'drb_posts_failed_total', help: 'Questions and progress messages that could not be posted, even after retries; their threads are marked failed.', labelNames: ['view'], registers: [registry] });
  const cost = new Counter({ name: 'drb_cost_yuan_total', help: 'Estimated DashScope cost of research runs and follow-up answers in yuan, at the configured or list price.', labelNames: ['model'], registers: [registry] });
  const tokens = new Counter({ name: 'drb_tokens_total', help: 'DashScope tokens used by finished research.', labelNames: ['kind'], registers: [registry] });
  const takenOver = new Counter({ name: 'drb_research_taken_over_total', help: 'Runs this process took over from a process that died (run again, or their report delivered).', registers: [registry] });
  if (src.cluster) clusterGauges(registry, src.cluster);
  const followups = new Counter({ name: 'drb_followups_total', help: 'Follow-up questions on finished reports, by outcome (answered, failed, or the error code).', labelNames: ['outcome'], registers: [registry] });
  return {
    registry,
    telemetry: {
      researchFailed: (code) => failures.inc({ code }),
      tokensUsed: (usage) => {
        tokens.inc({ kind: 'input' }, usage.inputTokens);
        tokens.inc({ kind: 'output' }, usage.outputTokens);
      },
      requestRefused: () => refused.inc(),
      postFailed: (view) => postFailures.inc({ view }),
      costYuan: (model, yuan) => cost.inc({ model }, yuan),
      followup: (outcome) => followups.inc({ outcome }),
      takenOver: () => takenOver.inc(),
    },
  };
}

/** The cluster's queue and takeovers, read from Redis once per scrape (every process reports the same figures). */
function clusterGauges(registry: Registry, read: () => Promise<ClusterFigures>): void {
  let scrape: Promise<ClusterFigures | undefined> | undefined;
  const figures = () => (scrape ??= read().catch(() => undefined).finally(() => setTimeout(() => (scrape = undefined), 0)));
  new Gauge({
    name: 'drb_cluster_queue',
    help: 'Research jobs in the cluster: waiting for a slot, and active in some process.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const f = await figures();
      if (f) for (const state of ['waiting', 'active'] as const) this.set({ state }, f[state]);
    },
  });
  for (const [name, help, key] of [
    ['drb_cluster_stalled_total', 'Research jobs found stalled in the cluster (their process died) and handed on.', 'stalled'],
    ['drb_cluster_reruns_total', 'Runs taken over in the cluster from a process that died.', 'reruns'],
  ] as const) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const f = await figures();
        if (f) this.set(f[key]);
      },
    });
  }
}
