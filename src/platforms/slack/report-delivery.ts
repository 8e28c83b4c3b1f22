import type { WebClient } from '@slack/web-api';
import { splitMarkdown } from '../../common/markdown.js';
import type { PlatformStats, PostTag, ThreadKey } from '../../core/ports/chat.js';
import type { Logger } from '../../core/ports/logger.js';
import { clip } from '../../core/progress-text.js';
import type { SlackCanvases } from './canvas.js';
import { slackFailure } from './errors.js';
import { escapeMrkdwn, escapePlain } from './escape.js';
import type { SlackReportPart } from './report-parts.js';
import type { SlackStreams } from './streams.js';
import { parseThreadKey } from './thread-key.js';

/** Message metadata naming the bot's own posts, so one that went out just before a crash can be found again. */
export const POST_EVENT = 'drb_post';

export function postMetadata(tag: PostTag | undefined) {
  return tag ? { metadata: { event_type: POST_EVENT, event_payload: { tag } } } : {};
}

type MarkdownPart = Extract<SlackReportPart, { kind: 'markdown' }>;

/**
 * Delivers the report's parts: body and references as Markdown messages (or through the run's live stream), the
 * canvas, the files. Resolves with the message that shows a part (the first, when a part takes several).
 */
export class SlackReportDelivery {
  constructor(
    private readonly web: WebClient,
    private readonly log: Logger,
    private readonly stats: PlatformStats,
    private readonly streams: SlackStreams,
    private readonly canvases: SlackCanvases,
  ) {}

  async post(thread: ThreadKey, part: SlackReportPart, tag: PostTag): Promise<string | undefined> {
    const { channel, threadTs } = parseThreadKey(thread);
    if (part.kind === 'markdown') {
      if (part.body !== undefined) return this.postBodyPart(thread, part, tag);
      return this.postMarkdown(channel, threadTs, part.markdown, part.fallback, tag);
    }
    if (part.kind === 'canvas') return void (await this.canvases.publish(thread, part, postMetadata(tag)));
    try {
      await this.web.filesUploadV2({
        channel_id: channel,
        thread_ts: threadTs,
        file: Buffer.from(part.content, 'utf8'),
        filename: escapePlain(part.name),
        title: escapePlain(part.title),
        ...(part.markdown ? { snippet_type: 'markdown' } : {}),
      } as never);
    } catch (err) {
      // The report is already in the thread; the files are a convenience.
      this.stats.error(slackFailure(err).code);
      this.log.warn({ err: slackFailure(err).code, file: part.name }, 'report file upload failed');
    }
    return undefined;
  }

  /**
   * A part of the report body. While the run's stream is live, the stream shows it (only what the stream does not show
   * yet is appended), so the thread has one copy of the report; otherwise, or when the stream cannot take it, it is
   * posted, and from then on the stream takes no more text so that nothing appears twice or out of order. An opening
   * the stream never showed and cannot show above what it streamed (the line a report that builds on an earlier one
   * opens with, when its draft was streamed first) is posted as a message of its own.
   */
  private async postBodyPart(thread: ThreadKey, part: MarkdownPart, tag: PostTag): Promise<string | undefined> {
    const { channel, threadTs } = parseThreadKey(thread);
    const run = this.streams.ofThread(thread);
    if (run && part.body) {
      const { full, start, end } = part.body;
      const lead = run.text.align(full);
      const from = Math.max(start, lead);
      // The opening goes below the streamed message whenever it is posted: after the stream took the rest (no await
      // between aligning and delivering, so a call in flight meanwhile is counted against the report's text).
      const opening = start < lead ? full.slice(start, Math.min(lead, end)).trim() : '';
      const postOpening = () => (opening ? this.postMarkdown(channel, threadTs, opening, part.fallback, tag) : Promise.resolve(undefined));
      if (end > lead && run.usable() && (await this.streams.deliver(run, full, end))) {
        const ts = await postOpening();
        return run.text.messageAt(from) ?? ts ?? run.id;
      }
      if (end <= lead) return postOpening();
      // Posted instead: the stream takes no more text, and only what it shows once its call in flight is answered
      // is left out (a call whose answer is lost counts as not shown: the piece is posted, rather than lost).
      run.text.freeze();
      await this.streams.settled(run);
      const first = await postOpening();
      const shown = run.text.shownOf(full);
      const rest = full.slice(Math.max(from, shown), end).trim();
      const ts = rest ? await this.postMarkdown(channel, threadTs, rest, part.fallback, tag) : run.text.messageAt(from);
      return first ?? ts;
    }
    run?.text.freeze();
    return this.postMarkdown(channel, threadTs, part.markdown, part.fallback, tag);
  }

  /** One markdown block per message; should Slack still refuse a part as too long, it is split further. The first message's ts. */
  private async postMarkdown(channel: string, threadTs: string, markdown: string, fallback: string, tag: PostTag, depth = 0): Promise<string | undefined> {
    try {
      const res = await this.web.chat.postMessage({
        channel,
        thread_ts: threadTs,
        text: escapeMrkdwn(clip(fallback, 3000)),
        blocks: [{ type: 'markdown', text: markdown } as never],
        unfurl_links: false,
        unfurl_media: false,
        ...postMetadata(tag),
      });
      return res.ts;
    } catch (err) {
      const code = slackFailure(err).code;
      this.stats.error(code);
      if (depth < 3 && ['msg_too_long', 'msg_blocks_too_long', 'invalid_blocks'].includes(code ?? '')) {
        let first: string | undefined;
        for (const half of splitMarkdown(markdown, Math.floor(markdown.length / 2) + 1)) {
          const ts = await this.postMarkdown(channel, threadTs, half, fallback, tag, depth + 1);
          first ??= ts;
        }
        return first;
      }
      throw err;
    }
  }
}
