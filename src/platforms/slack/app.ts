import type { IncomingMessage, ServerResponse } from 'node:http';
import { App, HTTPReceiver, LogLevel, SocketModeReceiver, type Receiver } from '@slack/bolt';
import { WebClient, WebClientEvent, type WebClientOptions } from '@slack/web-api';
import type { Logger } from '../../core/ports/logger.js';
import type { SharedRate } from '../../core/ports/rate.js';
import { SharedBudget } from '../shared-budget.js';
import { PlatformStats, type Inbound } from '../../core/ports/chat.js';
import { ACTIONS } from './blocks.js';
import { SlackEditor, type EditBudget } from './editor.js';
import { fromAction, fromFeedback, fromMention, fromMessage, type SlackMessageEvent } from './inbound.js';
import { SlackPlatform } from './outbound.js';
import { slackFailure } from './errors.js';
import type { StreamSettings } from './stream-settings.js';
import { SlackStreams } from './streams.js';

/** Per HTTP request to the Web API (each retry has its own); file uploads of long reports fit well within it. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Edits and status calls: cosmetic, so they give up sooner. */
const QUIET_TIMEOUT_MS = 10_000;

export interface SlackSettings {
  botToken: string;
  appToken?: string;
  signingSecret?: string;
  apiUrl: string;
}

export interface SlackOptions {
  handle: (inbound: Inbound) => Promise<void>;
  log: Logger;
  budget?: EditBudget;
  /** Overrides for every WebClient (tests use fast retries). */
  clientOptions?: Partial<WebClientOptions>;
  /** Streamed progress: when to roll onto a fresh message, how full one may get, how often the clock moves. */
  streaming?: Partial<StreamSettings>;
  /**
   * The rate budget shared by all processes of a deployment: chat.update and the streaming methods then also take
   * from cluster-wide buckets `slack:<team>:<method>` (same limits as `budget`), so that the processes together stay
   * inside Slack's tiers. Without it each process keeps its own budget only.
   */
  sharedRate?: SharedRate;
}

export interface SlackConnection {
  platform: SlackPlatform;
  editor: SlackEditor;
  /** HTTP mode: the handler for POST /slack/events (events and interactivity). */
  requestListener?: (req: IncomingMessage, res: ServerResponse) => void;
  start(): Promise<void>;
  stop(): Promise<void>;
  connected(): boolean;
}

/** Bolt wiring: Socket Mode when an app token is set, otherwise HTTP mode with signature verification. */
export function createSlack(settings: SlackSettings, opts: SlackOptions): SlackConnection {
  const log = opts.log.child({ platform: 'slack' });
  // Every call has a deadline: a Slack call that never answers must not hold a conversation.
  const clientOptions: WebClientOptions = { slackApiUrl: settings.apiUrl, logLevel: LogLevel.ERROR, timeout: REQUEST_TIMEOUT_MS, ...opts.clientOptions };
  let receiver: Receiver;
  let http: HTTPReceiver | undefined;
  if (settings.appToken) {
    receiver = new SocketModeReceiver({
      appToken: settings.appToken,
      logLevel: LogLevel.ERROR,
      installerOptions: { clientOptions: { slackApiUrl: settings.apiUrl } },
    } as ConstructorParameters<typeof SocketModeReceiver>[0]);
  } else {
    http = new HTTPReceiver({ signingSecret: settings.signingSecret ?? '', endpoints: '/slack/events', logLevel: LogLevel.ERROR });
    receiver = http;
  }
  const app = new App({ token: settings.botToken, receiver, clientOptions, logLevel: LogLevel.ERROR });
  // Edits and status calls fail fast on 429 instead of pausing the shared client's queue.
  const quiet = new WebClient(settings.botToken, { ...clientOptions, timeout: QUIET_TIMEOUT_MS, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
  const stats = new PlatformStats();
  // The cluster's budget on top of each process's own (none without sharedRate; local only while it is unreachable).
  const shared = new SharedBudget(opts.sharedRate, log);
  const editor = new SlackEditor(quiet, log, opts.budget, stats, shared);
  // Streamed progress: its own budgets per method (Tier 2 start/stop, Tier 4 append), shared by every run in the workspace.
  const streams = new SlackStreams(quiet, log, stats, opts.budget?.streams, opts.streaming, shared);
  const platform = new SlackPlatform(app.client, editor, quiet, log, ['files.slack.com', new URL(settings.apiUrl).host], stats, streams);
  // The main client waits out a 429 and retries; each wait is counted.
  app.client.on(WebClientEvent.RATE_LIMITED, () => stats.rateLimited++);
  let running = false;

  // Work happens after the acknowledgement: Bolt acks Events API payloads before listeners run.
  const dispatch = (inbound: Inbound | undefined) => {
    if (!inbound) return;
    // The person who asks is the recipient of the thread's streamed progress (Slack requires one in channels).
    if (inbound.kind === 'mention') platform.noteRequester(inbound.thread, inbound.user);
    // "Research further" starts a round the person who pressed it answers and owns: they receive its stream.
    if (inbound.kind === 'action' && inbound.action === 'further') platform.noteFurther(inbound.thread, inbound.user);
    void opts.handle(inbound).catch((err: unknown) => log.error({ err, thread: inbound.thread }, 'handling failed'));
  };
  // The stream's own Stop, noticed by the platform: the core cancels the run like Cancel.
  platform.onInbound = dispatch;
  app.event('app_mention', async ({ event, body, context }) => {
    dispatch(fromMention(event as unknown as SlackMessageEvent, teamOf(body), context.botUserId));
  });
  app.event('message', async ({ event, body, context }) => {
    dispatch(fromMessage(event as unknown as SlackMessageEvent, teamOf(body), context.botUserId));
  });
  app.action(ACTIONS.feedback, async ({ ack, action, body }) => {
    await ack();
    const a = action as { value?: string; action_ts?: string };
    const b = body as { user: { id: string }; channel?: { id: string } };
    dispatch(fromFeedback(a.value, a.action_ts ?? String(Date.now()), b.user.id, b.channel?.id ?? ''));
  });
  for (const actionId of [ACTIONS.startNow, ACTIONS.cancel, ACTIONS.retry, ACTIONS.further]) {
    app.action(actionId, async ({ ack, action, body }) => {
      await ack();
      const a = action as { action_id: string; value?: string; action_ts?: string };
      const b = body as { user: { id: string }; channel?: { id: string } };
      dispatch(fromAction(a.action_id, a.value, a.action_ts ?? String(Date.now()), b.user.id, b.channel?.id ?? ''));
    });
  }
  app.error(async (err) => log.error({ err: err.code ?? err.message }, 'bolt error'));

  return {
    platform,
    editor,
    requestListener: http ? (req, res) => http.requestListener(req, res) : undefined,
    async start() {
      try {
        const who = await app.client.auth.test();
        editor.team = String(who.team_id ?? '');
      } catch (err) {
        const code = slackFailure(err).code ?? (err as Error).message;
        throw new Error(`Slack rejected SLACK_BOT_TOKEN (${code}). Check the bot token of the installed app.`);
      }
      if (settings.appToken) await app.start();
      running = true;
    },
    async stop() {
      running = false;
      // Final states already on their way (a stopStream with the feedback buttons) get a moment to go out.
      await streams.drained(3000);
      platform.stop();
      editor.stop();
      if (settings.appToken) await app.stop();
    },
    connected: () => running,
  };
}

/** The installing workspace: in a Slack Connect channel `team_id` is the other organisation's, so the authorization comes first (as in Bolt). */
function teamOf(body: unknown): string {
  const b = body as { team_id?: string; team?: { id?: string }; authorizations?: { team_id?: string }[] };
  return b.authorizations?.[0]?.team_id ?? b.team_id ?? b.team?.id ?? 'T';
}
