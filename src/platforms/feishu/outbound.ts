import type { Lang } from '../../core/i18n.js';
import type { Logger } from '../../core/ports/logger.js';
import { splitMarkdown } from '../../common/markdown.js';
import { reportFiles, type Report } from '../../core/report.js';
import type { DownloadLimits, FileRef, Platform, PlatformStats, PostTag, ReportPart, ThreadKey, View } from '../../core/ports/chat.js';
import { toFeishuError, type FeishuApi } from './api.js';
import { renderCard, reportCard, type Card } from './cards.js';
import { cardMarkdown } from './escape.js';
import { CARDKIT_OP_INTERVAL_MS, CardKitRefused, STREAM_LIFETIME_MS, type LiveCardOptions } from './cardkit-ops.js';
import { LiveCard } from './live-card.js';
import { openProgress } from './live-open.js';
import { ReportDocs, type DocPart, type DocSettings } from './docx.js';
import { bodyParts, liveCapacity, LiveProgress, REPORT_PART_MAX, TABLES_PER_CARD } from './live-progress.js';
import { parseThreadKey, uuidFor } from './thread-key.js';
import type { CardPatcher } from './patcher.js';
import { FeishuResources } from './resources.js';

export { REPORT_PART_MAX, TABLES_PER_CARD };
/** Card bodies above this are split again before sending (Feishu refuses cards over 30 KB). */
export const CARD_MAX_BYTES = 28_000;
/** Permission errors: the app lacks a scope (cardkit:card:write). */
const PERMISSION_CODES = new Set([99991672, 99991679]);
/** A reply refused for its card (230099: card content, with a sub-code such as 11310 "cardid is invalid"). */
const CARD_REFUSED = new Set([230099, ...PERMISSION_CODES]);
/** How long a tenant whose CardKit failed gets today's patched cards before CardKit is tried again. */
const FALLBACK_MS = 3_600_000;
/** How long delivering a report part into the live card may take before it is posted as a card of its own. */
const COMPLETE_TIMEOUT_MS = 20_000;
/** Card ids of finished live cards remembered, for a later Retry of the same run. */
const KNOWN_CARDS = 5000;

type FeishuReportPart = ReportPart &
  (
    | { kind: 'card'; title: string; markdown: string; body?: { index: number; parts: readonly string[] } }
    | { kind: 'file'; name: string; content: string }
    | Omit<DocPart, 'label'>
  );

/** How progress is shown: CardKit streaming cards (the default) or today's patched cards only. */
export interface CardKitSettings extends LiveCardOptions {
  enabled: boolean;
  /** How long a tenant keeps patched cards after CardKit failed there. */
  fallbackMs: number;
}

export const CARDKIT_DEFAULTS: CardKitSettings = { enabled: true, opIntervalMs: CARDKIT_OP_INTERVAL_MS, streamLifetimeMs: STREAM_LIFETIME_MS, fallbackMs: FALLBACK_MS };

/**
 * Feishu's outbound side. The progress message is a CardKit card entity streamed as the run goes (LiveCard), the
 * report's text typed into it while it is written; the report parts it holds are then not posted again. Without
 * CardKit (the scope missing, or CardKit failing) the tenant gets today's patched card for a while, and the report
 * as cards. Question cards, notices and report cards are sent as before.
 */
export class FeishuPlatform implements Platform {
  readonly name = 'feishu';
  readonly stats: PlatformStats;
  private readonly settings: CardKitSettings;
  /** Live progress cards by the message id the core knows. */
  private readonly live = new Map<string, LiveProgress>();
  /** The thread's current live progress card, for its report parts. */
  private readonly liveByThread = new Map<ThreadKey, LiveProgress>();
  /** Progress messages that are patched cards (posted without CardKit, or not found as card entities). */
  private readonly patched = new Set<string>();
  /** Tenants whose CardKit failed, until when. */
  private readonly fallbackUntil = new Map<string, number>();
  /** Finished live cards: their card and last sequence, for a later Retry of the run. */
  private readonly known = new Map<string, { cardId?: string; sequence: number }>();
  /** The report parts of threads whose report is being delivered, and the first part this process delivered. */
  private readonly delivering = new Map<ThreadKey, { parts: readonly string[]; resumedAt?: number }>();
  /** The report as a Feishu document. */
  private readonly docs: ReportDocs;
  /** People's attachments (pictures and files in the thread), downloaded for the research. */
  private readonly resources: FeishuResources;

  constructor(
    private readonly api: FeishuApi,
    private readonly patcher: CardPatcher,
    private readonly log: Logger,
    settings: Partial<CardKitSettings> = {},
    docs: DocSettings = { share: 'chat', domain: 'feishu' },
    resources?: FeishuResources,
  ) {
    this.stats = api.stats;
    this.settings = { ...CARDKIT_DEFAULTS, ...settings };
    this.docs = new ReportDocs(api, log, docs);
    this.resources = resources ?? new FeishuResources(api, log);
  }

  async post(thread: ThreadKey, view: View, tag?: PostTag): Promise<string> {
    const { root, tenant } = parseThreadKey(thread);
    if (view.kind === 'progress') this.delivering.delete(thread);
    if (view.kind === 'progress' && this.cardkitFor(tenant)) {
      const live = new LiveProgress(thread, view);
      try {
        // A tagged reply carries the tag's key: repeated after a restart, it hands back the message sent before. A
        // key of its own (not the patched card's), so what it hands back can only be a card entity of this tag.
        const opened = await openProgress(this.api, root, live, this.cardOptions(tenant), this.log, uuidFor(thread, tag && `${tag}:cardkit`));
        if (opened.earlier !== undefined) {
          // That message's card is taken over (or the one this process drives already) and brought up to date.
          const found = this.live.get(opened.earlier) ?? this.adopt(thread, opened.earlier, view, opened.cardId);
          found.view = view;
          this.track(opened.earlier, found);
          found.card!.changed();
          return opened.earlier;
        }
        live.card = opened.card;
        this.track(live.card.currentMessageId, live);
        return live.card.currentMessageId;
      } catch (err) {
        // CardKit refused the card, or Feishu the card in the reply: patched cards. Anything else (the thread is
        // gone, Feishu is down) would fail the patched card too: the core retries the post.
        const refused = err instanceof CardKitRefused ? err.cause : err;
        if (!(err instanceof CardKitRefused) && !CARD_REFUSED.has(toFeishuError(err).code)) throw err;
        this.fallBack(tenant, refused);
      }
    }
    const id = await this.api.reply(root, 'interactive', renderCard(view, thread), uuidFor(thread, tag));
    if (view.kind === 'progress') this.markPatched(id);
    return id;
  }

  async update(thread: ThreadKey, messageId: string, view: View, final: boolean): Promise<void> {
    let live = this.live.get(messageId);
    if (!live && view.kind === 'progress' && !this.patched.has(messageId) && this.cardkitFor(parseThreadKey(thread).tenant)) live = this.adopt(thread, messageId, view);
    if (!live || view.kind !== 'progress') return this.patcher.patch(messageId, renderCard(view, thread), final);
    live.view = view;
    if (view.state === 'queued' || view.state === 'researching') this.liveByThread.set(thread, live);
    if (!final) return live.card!.changed();
    // The run is over: its report, if any, is delivered.
    this.delivering.delete(thread);
    live.card!.finish();
    void live.card!.whenFinished().then(() => this.release(messageId, live));
  }

  /** The report as cards (split at headings and paragraphs, at most 3 tables each), the references, the files, a document. */
  reportParts(thread: ThreadKey, report: Report, lang: Lang): FeishuReportPart[] {
    const body = bodyParts(report.body);
    const refs = splitMarkdown(cardMarkdown(report.referencesMarkdown), REPORT_PART_MAX);
    const delivering = this.delivering.get(thread);
    if (!delivering || delivering.parts.join('\n') !== body.join('\n')) this.delivering.set(thread, { parts: body });
    return [
      ...body.map((markdown, i) => ({
        kind: 'card' as const,
        label: `report ${i + 1}/${body.length}`,
        title: body.length > 1 ? `${report.title} (${i + 1}/${body.length})` : report.title,
        markdown,
        body: { index: i, parts: body },
      })),
      ...refs.map((markdown) => ({ kind: 'card' as const, label: 'references', title: report.title, markdown })),
      ...reportFiles(report).map((f) => ({ kind: 'file' as const, label: `file ${f.name}`, name: f.name, content: f.content })),
      { kind: 'doc' as const, label: 'document', title: report.title, markdown: report.markdown, lang },
    ];
  }

  /** Resolves with the message the part is in (the first, when it took several; the live card, when it holds it). */
  async postReportPart(thread: ThreadKey, reportPart: ReportPart, tag: PostTag): Promise<string | void> {
    const part = reportPart as FeishuReportPart;
    const { root } = parseThreadKey(thread);
    if (part.kind === 'card' && part.body && (await this.intoLiveCard(thread, part.body.index, part.body.parts))) return this.liveByThread.get(thread)?.card?.currentMessageId;
    const delivering = this.delivering.get(thread);
    if (delivering) delivering.resumedAt ??= part.kind === 'card' && part.body ? part.body.index : Number.POSITIVE_INFINITY;
    if (part.kind === 'card') return (await this.postCards(root, part.title, part.markdown, (n) => uuidFor(thread, tag, n))).ids[0];
    if (part.kind === 'doc') return this.docs.deliver(thread, part, tag, (n) => uuidFor(thread, tag, n));
    try {
      const fileKey = await this.api.uploadFile(part.name, Buffer.from(part.content, 'utf8'));
      return await this.api.reply(root, 'file', { file_key: fileKey }, uuidFor(thread, tag));
    } catch (err) {
      // The report is already in the thread; the files are a convenience.
      this.log.warn({ code: toFeishuError(err).code, file: part.name }, 'report file upload failed');
    }
  }

  download(_thread: ThreadKey, file: FileRef, limits: DownloadLimits): Promise<Uint8Array> {
    return this.resources.download(file, limits);
  }

  /** Resolves when no card is waiting to be patched or streamed, or after `timeoutMs`. */
  async drained(timeoutMs = 5000): Promise<void> {
    await Promise.all([this.patcher.drained(timeoutMs), ...[...new Set(this.live.values())].map((l) => l.card!.drained(timeoutMs))]);
  }

  stop(): void {
    for (const l of this.live.values()) l.card?.stop();
    this.live.clear();
    this.liveByThread.clear();
  }

  /**
   * Body part `index` into the thread's live card: true when the card now shows it (it then shows every part it
   * holds, liveCapacity), false when it is to be posted as a card of its own. After a restart there is no live
   * card: the parts are posted, and the card keeps only those it held before (see adopt).
   */
  private async intoLiveCard(thread: ThreadKey, index: number, parts: readonly string[]): Promise<boolean> {
    const live = this.liveByThread.get(thread);
    if (!live?.card) return false;
    if (!live.body) {
      // The report is final now: from here on the card shows its first parts, not the draft.
      live.body = parts;
      live.shown = index === 0 ? liveCapacity(parts) : 0;
      live.card.settle();
      live.card.changed();
    }
    if (index >= live.shown) return false;
    if (await live.card.sync(COMPLETE_TIMEOUT_MS)) return true;
    // The card could not be brought up to date: it keeps the parts before this one, which is posted instead.
    this.log.warn({ thread, part: index }, 'live card did not take the report part; posting it');
    live.shown = index;
    live.card.changed();
    return false;
  }

  /**
   * A progress card posted before a restart (or a finished one shown again by Retry): taken over through CardKit,
   * updated whole, its card looked up at the first operation unless known (`cardId`: found by a tagged reply). A
   * report whose delivery resumed in this process is shown as far as the card held it before (its parts from where
   * delivery resumed were posted as cards); a running research streams its draft again.
   */
  private adopt(thread: ThreadKey, messageId: string, view: Extract<View, { kind: 'progress' }>, cardId?: string): LiveProgress {
    const live = new LiveProgress(thread, view);
    const delivering = this.delivering.get(thread);
    if (delivering && view.state !== 'queued' && view.state !== 'researching') {
      live.body = delivering.parts;
      live.shown = Math.min(delivering.resumedAt ?? delivering.parts.length, liveCapacity(delivering.parts));
    }
    const known = this.known.get(messageId);
    const resolve = () => this.api.cardIdOf(messageId);
    const { root, tenant } = parseThreadKey(thread);
    live.card = LiveCard.adopt(this.api, root, messageId, live, this.cardOptions(tenant), this.log, known ?? (cardId ? { cardId } : { resolve }), () => {
      // Not a card entity (or CardKit refused): today's patch.
      this.markPatched(messageId);
      this.untrack(messageId, live);
      this.patcher.patch(messageId, renderCard(live.view, thread), !(live.view.state === 'queued' || live.view.state === 'researching'));
    });
    this.known.delete(messageId);
    this.track(messageId, live);
    return live;
  }

  /** A live card's settings, with the tenant's fallback remembered when CardKit refuses the permission mid-run. */
  private cardOptions(tenant: string): LiveCardOptions {
    return { ...this.settings, onFailure: (e) => PERMISSION_CODES.has(e.code) && !this.fallbackUntil.has(tenant) && this.fallBack(tenant, e) };
  }

  private markPatched(messageId: string): void {
    this.patched.add(messageId);
    if (this.patched.size > KNOWN_CARDS) this.patched.delete(this.patched.values().next().value!);
  }

  private track(messageId: string, live: LiveProgress): void {
    this.live.set(messageId, live);
    this.liveByThread.set(live.thread, live);
  }

  private untrack(messageId: string, live: LiveProgress): void {
    if (this.live.get(messageId) === live) this.live.delete(messageId);
    if (this.liveByThread.get(live.thread) === live) this.liveByThread.delete(live.thread);
  }

  /** A finished card is let go (its card id kept for a Retry), unless it was updated again meanwhile. */
  private release(messageId: string, live: LiveProgress): void {
    if (this.live.get(messageId) !== live || !live.card?.finished) return;
    this.untrack(messageId, live);
    this.known.set(messageId, live.card.position);
    if (this.known.size > KNOWN_CARDS) this.known.delete(this.known.keys().next().value!);
  }

  private cardkitFor(tenant: string): boolean {
    if (!this.settings.enabled) return false;
    const until = this.fallbackUntil.get(tenant);
    if (until === undefined) return true;
    if (Date.now() < until) return false;
    this.fallbackUntil.delete(tenant);
    return true;
  }

  /** CardKit failed for this tenant: patched cards for a while. */
  private fallBack(tenant: string, err: unknown): void {
    const e = toFeishuError(err);
    this.fallbackUntil.set(tenant, Date.now() + this.settings.fallbackMs);
    this.log.warn(
      { code: e.code, tenant, minutes: Math.round(this.settings.fallbackMs / 60_000) },
      PERMISSION_CODES.has(e.code) ? 'CardKit refused (the app needs the cardkit:card:write scope); progress cards are patched instead' : 'CardKit failed; progress cards are patched instead',
    );
  }

  /** One card per part; a part whose card would still be too large is halved (each piece with its own uuid). */
  private async postCards(root: string, title: string, markdown: string, uuid: (piece: number) => string | undefined, sent = { piece: 0, ids: [] as string[] }): Promise<{ piece: number; ids: string[] }> {
    const card: Card = reportCard(title, markdown);
    if (Buffer.byteLength(JSON.stringify(card)) > CARD_MAX_BYTES && markdown.length > 1) {
      for (const half of splitMarkdown(markdown, Math.ceil(markdown.length / 2))) await this.postCards(root, title, half, uuid, sent);
      return sent;
    }
    sent.ids.push(await this.api.reply(root, 'interactive', card, uuid(sent.piece++)));
    return sent;
  }
}
