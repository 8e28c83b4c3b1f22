import { startBot, type Bot } from '../../src/bot.js';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_BUDGET, type EditBudget } from '../../src/platforms/slack/editor.js';
import type { StreamSettings } from '../../src/platforms/slack/stream-settings.js';
import { tempDbPath } from '../core/harness.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack, TEAM, type FakeMessage } from '../fakes/slack.js';

export interface SlackWorld {
  ds: FakeDashScope;
  slack: FakeSlack;
  bot: Bot;
  endpoint: string;
  close(): Promise<void>;
}

/**
 * The edit budget of the tests: so large that no edit waits for it, so a test's last edit goes out at once and
 * `bot.stop()` has nothing to drain. A test makes a few dozen edits at most, well under the fake's chat.update
 * limit. Only the test of the budget itself runs under the production one (`budget: 'production'`).
 */
export const FAST_BUDGET: EditBudget = {
  perMinute: 60_000,
  burst: 1000,
  streams: { 'chat.startStream': { perMinute: 60_000, burst: 1000 }, 'chat.appendStream': { perMinute: 60_000, burst: 1000 }, 'chat.stopStream': { perMinute: 60_000, burst: 1000 } },
};
/** The Web API client retries a 5xx after milliseconds, not seconds (a 429 still waits out its Retry-After). */
const FAST_RETRIES = { retries: 10, factor: 1, minTimeout: 10, maxTimeout: 20, randomize: false };

export async function slackWorld(
  env: Record<string, string> = {},
  opts: {
    socket?: boolean;
    frameDelayMs?: number;
    progressIntervalMs?: number;
    budget?: EditBudget | 'production';
    /** DashScope's idle timeout, below config's 10 s floor (RESEARCH_IDLE_TIMEOUT_SECONDS), for the stall drill. */
    idleTimeoutMs?: number;
    /**
     * The workspace can stream messages (chat.startStream…). Off by default: the fake then answers `unknown_method`, as
     * it always did, and progress is today's edited message. Under the fast budget the fake's stream tiers are lifted too.
     */
    streaming?: boolean;
    /** The bot's stream settings (a test rolls streams after a second or two, or moves the clock faster). */
    stream?: Partial<StreamSettings>;
  } = {},
): Promise<SlackWorld> {
  const ds = await new FakeDashScope({ frameDelayMs: opts.frameDelayMs }).start();
  const slack = await new FakeSlack().start();
  slack.streaming = opts.streaming ?? false;
  if (opts.streaming && opts.budget !== 'production') {
    for (const m of ['chat.startStream', 'chat.appendStream', 'chat.stopStream']) slack.limits[m] = { max: 100_000, windowMs: 60_000 };
  }
  const loaded = loadConfig({
    DASHSCOPE_API_KEY: 'sk-test',
    DASHSCOPE_BASE_URL: ds.url,
    SLACK_BOT_TOKEN: 'xoxb-test',
    ...(opts.socket ? { SLACK_APP_TOKEN: 'xapp-test' } : { SLACK_SIGNING_SECRET: slack.signingSecret }),
    SLACK_API_URL: slack.apiUrl,
    STORE_URL: `sqlite:${tempDbPath()}`,
    PORT: '0',
    MAX_CONCURRENT_RESEARCH: '10',
    ...env,
  });
  const config = opts.idleTimeoutMs ? { ...loaded, dashscope: { ...loaded.dashscope, idleTimeoutMs: opts.idleTimeoutMs } } : loaded;
  const budget = opts.budget === 'production' ? DEFAULT_BUDGET : (opts.budget ?? FAST_BUDGET);
  const bot = await startBot(config, { host: '127.0.0.1', progressIntervalMs: opts.progressIntervalMs ?? 50, slack: { budget, clientOptions: { retryConfig: FAST_RETRIES } } });
  if (opts.stream) Object.assign(bot.slack!.platform.streams.settings, opts.stream);
  return {
    ds,
    slack,
    bot,
    endpoint: `http://127.0.0.1:${bot.port}/slack/events`,
    async close() {
      await bot.stop();
      await slack.close();
      await ds.close();
    },
  };
}

let seq = 100;
export function nextTs(): string {
  return `1700000000.${String(++seq).padStart(6, '0')}`;
}

export function mentionEvent(text: string, opts: { user?: string; channel?: string; ts?: string; thread_ts?: string } = {}) {
  return { type: 'app_mention', user: opts.user ?? 'U1', text: `<@UBOT> ${text}`, ts: opts.ts ?? nextTs(), channel: opts.channel ?? 'C1', team: TEAM, ...(opts.thread_ts ? { thread_ts: opts.thread_ts } : {}) };
}

export function replyEvent(text: string, threadTs: string, opts: { user?: string; channel?: string; ts?: string } = {}) {
  return { type: 'message', channel_type: 'channel', user: opts.user ?? 'U1', text, ts: opts.ts ?? nextTs(), thread_ts: threadTs, channel: opts.channel ?? 'C1', team: TEAM };
}

/** Everything a person sees of a message: its text and the text inside its blocks. */
export function visible(m: FakeMessage): string {
  return [m.text, ...m.blocks.map((b) => JSON.stringify(b))].join('\n');
}

export function findButton(messages: FakeMessage[], actionId: string): FakeMessage | undefined {
  return messages.find((m) => m.blocks.some((b) => b.type === 'actions' && JSON.stringify(b).includes(`"${actionId}"`)));
}
