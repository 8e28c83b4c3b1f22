import type { WebClient } from '@slack/web-api';
import type { Lang } from '../../core/i18n.js';
import type { PlatformStats, ThreadKey } from '../../core/ports/chat.js';
import type { Logger } from '../../core/ports/logger.js';
import { clip } from '../../core/progress-text.js';
import { slackFailure } from './errors.js';
import { escapeMrkdwn } from './escape.js';
import { parseThreadKey } from './thread-key.js';

/** The report part that publishes the report as a canvas (see report-parts.ts). */
export interface CanvasPart {
  kind: 'canvas';
  label: string;
  title: string;
  /** Canvas Markdown (canvas-markdown.ts). */
  markdown: string;
  lang: Lang;
}

/**
 * What a workspace that cannot have the bot's canvases answers `canvases.create` (Slack's method reference and error
 * lists): a free plan (`free_teams_cannot_create_non_tabbed_canvases`: free teams only get canvases tabbed in a
 * channel), canvases turned off, no `canvases:write` scope, a token type that cannot, or a method this Slack lacks.
 */
export const CANVAS_UNAVAILABLE: ReadonlySet<string> = new Set([
  'free_teams_cannot_create_non_tabbed_canvases',
  'team_tier_cannot_create_channel_canvases',
  'canvas_disabled_user_team',
  'canvas_disabled',
  'restricted_action',
  'missing_scope',
  'not_allowed_token_type',
  'no_permission',
  'access_denied',
  'ekm_access_denied',
  'enterprise_is_restricted',
  'unknown_method',
  'feature_not_enabled',
  'method_deprecated',
]);

/** Calls refused with 429 are tried again after Slack's Retry-After, this often and waiting at most this long. */
const RATE_LIMIT_TRIES = 4;
const RATE_LIMIT_WAIT_MAX_S = 60;

const TEXT = {
  en: {
    link: (link: string) => `:page_facing_up: The report is also a canvas: ${link}`,
    unavailable: 'This workspace cannot have the bot publish canvases (a free plan, or the app lacks the `canvases:write` scope), so the `.md` file in this thread is the shareable copy of the report.',
  },
  zh: {
    link: (link: string) => `:page_facing_up: 报告也已发布为画布：${link}`,
    unavailable: '本工作区无法让机器人发布画布（免费版，或应用缺少 `canvases:write` 权限），本话题中的 `.md` 文件即可分享的报告副本。',
  },
} satisfies Record<Lang, unknown>;

/**
 * Publishes finished reports as canvases: `canvases.create` (standalone, so no channel tab per report), read access
 * for the channel with `canvases.access.set` (in a direct message, for the person who asked: Slack sets access only
 * for regular channels), then a message in the thread linking it, tagged like every report part so that after a
 * restart the core finds it and does not publish again. A workspace that cannot have canvases is told once, in the
 * thread, that the `.md` file is the copy, and is not asked again until the bot restarts. Never rejects: the report
 * is already in the thread.
 */
export class SlackCanvases {
  /** Workspaces whose canvases are unavailable (told once). */
  private readonly unavailable = new Set<string>();
  /** Each workspace's web address (auth.test), for a canvas link when files.info gives none. */
  private readonly home = new Map<string, Promise<{ url: string; team: string } | undefined>>();

  constructor(
    /** The retrying client, for the messages in the thread. */
    private readonly web: WebClient,
    /** A client that rejects rate-limited calls: canvas calls wait out their own 429s without pausing the report's posts. */
    private readonly quiet: WebClient,
    private readonly log: Logger,
    private readonly stats: PlatformStats,
    /** The person who asked in a thread, for access in a direct message. */
    private readonly requester: (thread: ThreadKey) => string | undefined,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Whether the workspace is known not to allow the bot's canvases. */
  isUnavailable(team: string): boolean {
    return this.unavailable.has(team);
  }

  /** `metadata`: the part's tag as message metadata, carried by the message this leaves in the thread. */
  async publish(thread: ThreadKey, part: CanvasPart, metadata: Record<string, unknown>): Promise<void> {
    const { team, channel, threadTs } = parseThreadKey(thread);
    if (this.unavailable.has(team)) return;
    let canvasId: string;
    try {
      const res = await this.call(() => this.quiet.canvases.create({ title: part.title, document_content: { type: 'markdown', markdown: part.markdown } }));
      if (!res.canvas_id) throw Object.assign(new Error('no canvas_id'), { data: { error: 'canvas_creation_failed' } });
      canvasId = res.canvas_id;
    } catch (err) {
      const code = slackFailure(err).code;
      this.stats.error(code);
      if (!CANVAS_UNAVAILABLE.has(code ?? '')) return void this.log.warn({ err: code, thread }, 'canvas not published');
      // Told once per workspace, even when two reports find out at the same time.
      if (this.unavailable.has(team)) return;
      this.unavailable.add(team);
      this.log.info({ team, err: code }, 'canvases unavailable in this workspace: the .md file is the copy');
      return this.post(channel, threadTs, TEXT[part.lang].unavailable, metadata);
    }
    const direct = channel.startsWith('D');
    const user = direct ? this.requester(thread) : undefined;
    // A channel's access is set before the link goes out, so the tagged link marks a canvas people can open.
    if (!direct) await this.share(canvasId, { channel_ids: [channel] });
    const url = await this.link(team, canvasId);
    const label = escapeMrkdwn(clip(part.title, 200));
    await this.post(channel, threadTs, TEXT[part.lang].link(url ? `<${url}|${label}>` : `*${label}*`), metadata);
    // In a direct message Slack wants the canvas sent to the person before their access is set.
    if (user) await this.share(canvasId, { user_ids: [user] });
  }

  private async share(canvasId: string, to: { channel_ids: [string] } | { user_ids: [string] }): Promise<void> {
    try {
      const res = await this.call(() => this.quiet.canvases.access.set({ canvas_id: canvasId, access_level: 'read', ...to }));
      const failed = [...(res.failed_to_update_channel_ids ?? []), ...(res.failed_to_update_user_ids ?? [])];
      if (failed.length) this.log.warn({ canvas: canvasId, failed }, 'canvas access not set for some');
    } catch (err) {
      this.stats.error(slackFailure(err).code);
      this.log.warn({ err: slackFailure(err).code, canvas: canvasId }, 'canvas access not set');
    }
  }

  /**
   * The canvas's address: its permalink from files.info (a canvas is a file; needs files:read), else the form Slack's
   * canvases show, `https://<workspace>.slack.com/docs/<team id>/<canvas id>` (auth.test gives the workspace's URL).
   */
  private async link(team: string, canvasId: string): Promise<string | undefined> {
    const permalink = await this.call(() => this.quiet.files.info({ file: canvasId }))
      .then((res) => res.file?.permalink)
      .catch((err: unknown) => void this.stats.error(slackFailure(err).code));
    if (permalink && safeUrl(permalink)) return permalink;
    if (!this.home.has(team)) {
      this.home.set(
        team,
        this.quiet.auth.test().then(
          (r) => (r.url && r.team_id ? { url: r.url, team: r.team_id } : undefined),
          () => undefined,
        ),
      );
    }
    const home = await this.home.get(team)!;
    if (!home) this.home.delete(team);
    const url = home && `${home.url.replace(/\/?$/, '/')}docs/${encodeURIComponent(home.team)}/${encodeURIComponent(canvasId)}`;
    return url && safeUrl(url) ? url : undefined;
  }

  private async post(channel: string, threadTs: string, text: string, metadata: Record<string, unknown>): Promise<void> {
    try {
      await this.web.chat.postMessage({ channel, thread_ts: threadTs, text, unfurl_links: false, unfurl_media: false, ...metadata });
    } catch (err) {
      this.stats.error(slackFailure(err).code);
      this.log.warn({ err: slackFailure(err).code }, 'canvas message not posted');
    }
  }

  /** A canvas call, waiting out 429s (canvases.create is Tier 2, about 20 a minute per workspace). */
  private async call<T>(f: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await f();
      } catch (err) {
        const failure = slackFailure(err);
        if (!failure.rateLimited || attempt >= RATE_LIMIT_TRIES) throw err;
        this.stats.rateLimited++;
        await this.sleep(Math.min(RATE_LIMIT_WAIT_MAX_S, failure.retryAfter ?? 1) * 1000);
      }
    }
  }
}

/** A URL that can sit in a mrkdwn link as it is: https, and no character that would end the token. */
function safeUrl(url: string): boolean {
  return /^https:\/\/[^\s<>|]+$/.test(url);
}
