import type { Input, PostedView } from './conversation.js';
import { strings } from './i18n.js';
import type { Platform, ThreadKey, View } from './ports/chat.js';
import type { Logger } from './ports/logger.js';
import type { Telemetry } from './ports/telemetry.js';
import type { Result, ThreadState } from './ports/thread.js';
import type { Budget } from './budget.js';
import type { ReportPages } from './ports/pages.js';
import type { Progress } from './progress.js';
import { buildReport, type Report } from './report.js';

/**
 * Posting what must not be lost: the question and progress messages, and the report part by part. Each post is
 * tagged (`clarify:<round>`, `report:<round>:<part>`) and retried with backoff; after a restart a post that may
 * have gone out unrecorded is first looked for. The outcome is the conversation's next input.
 */
export class Delivery {
  constructor(
    private readonly clock: () => number,
    private readonly log: Logger,
    private readonly telemetry: Telemetry,
    private readonly retryDelaysMs: number[] = [1000, 4000],
    /** The report's footer shows the estimated cost. */
    private readonly budget?: Budget,
    private readonly pages?: ReportPages,
  ) {}

  /** Publishes the report's page, where there are pages; a failure only leaves the page out. */
  async publishPage(s: ThreadState, progress: Progress | undefined): Promise<Input | void> {
    if (!s.result) return;
    const now = this.clock();
    if (!this.pages) return { type: 'published', now };
    const report = this.build(s, s.result);
    const rounds = (progress?.rounds ?? []).map(({ round, query, goal, sites }) => ({ round, query, goal, sites }));
    const page = { title: report.title, topic: s.topic, lang: s.lang, body: report.body, references: report.references, check: report.check, plan: progress?.plan ?? '', rounds, usage: s.usage, cost: this.budget?.format(s.usage), createdAt: now };
    try {
      return { type: 'published', url: await this.pages.publish(page), now };
    } catch (err) {
      this.log.error({ thread: s.key, err }, 'report page not published');
      return { type: 'published', now };
    }
  }

  /** Posts a view, retrying with backoff; after a restart, first adopts a post that went out unrecorded. */
  async post(platform: Platform, s: ThreadState, kind: PostedView, view: View, resume = false): Promise<Input> {
    const tag = `${kind}:${s.round}`;
    const adopted = resume ? await platform.findPosted?.(s.key, tag).catch(() => undefined) : undefined;
    if (adopted) {
      await platform.update(s.key, adopted, view, false);
      return { type: 'posted', view: kind, messageId: adopted, now: this.clock() };
    }
    try {
      const id = await retrying(this.log, this.retryDelaysMs, s.key, `post ${kind}`, () => platform.post(s.key, view, tag));
      return { type: 'posted', view: kind, messageId: id, now: this.clock() };
    } catch {
      this.telemetry.postFailed(kind);
      return { type: 'post-failed', view: kind, now: this.clock() };
    }
  }

  /** Delivers the next report part (skipping one that went out unrecorded before a restart). */
  async reportPart(platform: Platform, s: ThreadState, resume = false): Promise<Input | void> {
    if (!s.result) return;
    const report = this.build(s, s.result, await this.earlierLink(platform, s));
    const parts = platform.reportParts(s.key, report, s.lang);
    const i = s.reportDelivered ?? 0;
    const part = parts[i];
    let messageId: string | undefined;
    if (part) {
      const tag = `report:${s.round}:${i}`;
      messageId = (resume && (await platform.findPosted?.(s.key, tag).catch(() => undefined))) || undefined;
      messageId ??= (await retrying(this.log, this.retryDelaysMs, s.key, part.label, () => platform.postReportPart(s.key, part, tag))) || undefined;
    }
    return { type: 'report-part', delivered: Math.min(i + 1, parts.length), total: parts.length, messageId, now: this.clock() };
  }

  /**
   * The report as people get it: what it builds on (a "Research further" round), citations checked, the footer
   * with cost, and the page's address.
   */
  private build(s: ThreadState, result: Result, earlierLink?: string): Report {
    const t = strings(s.lang);
    const text = { referencesHeading: t.referencesHeading, notVisited: t.notVisited, footer: t.reportFooter, pageLink: t.pageLink };
    const buildsOn = s.further && t.followup.buildsOn(s.further.topic, earlierLink ?? s.further.pageUrl);
    return buildReport({ ...result, topic: s.topic, usage: s.usage, cost: this.budget?.format(s.usage), pageUrl: s.pageUrl, text, buildsOn: buildsOn || undefined });
  }

  /** A link to the report a "Research further" round builds on: its page, else its message where the platform links messages. */
  private async earlierLink(platform: Platform, s: ThreadState): Promise<string | undefined> {
    const f = s.further;
    if (!f || f.pageUrl || !f.messageId) return f?.pageUrl;
    return platform.permalink?.(s.key, f.messageId).catch(() => undefined);
  }

}

/** Runs a post, retrying it after each of `delaysMs` while it fails; the last failure is logged and thrown. */
export async function retrying<T>(log: Logger, delaysMs: number[], key: ThreadKey, what: string, f: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await f();
    } catch (err) {
      if (attempt >= delaysMs.length) {
        log.error({ thread: key, what, err }, 'could not post, even after retries');
        throw err;
      }
      log.warn({ thread: key, what, err }, 'post failed; retrying');
      await new Promise((r) => setTimeout(r, delaysMs[attempt]));
    }
  }
}
