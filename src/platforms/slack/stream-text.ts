import { blocks as markdownBlocks } from '../../common/markdown.js';

/** The report text of one run's streamed messages: what they show so far, what they should show, the parts waiting for it. */
export class StreamText {
  /** Report text shown so far, over all segments: a prefix of `target`. */
  sent = '';
  frozen = false;
  /** The report is being delivered through the stream: its text no longer comes from progress views. */
  delivering = false;
  private target = '';
  /**
   * Characters at the start of the report body the stream never showed and cannot show above the text it already
   * streamed (the line a "Research further" report opens with): the platform posts them; the stream's text is the
   * body after them.
   */
  lead = 0;
  /**
   * The text comes from the report parts only, not from the progress views' draft: set for a round whose report opens
   * with a line the draft does not have (a "Research further" round), so that line can open the streamed text.
   */
  reportOnly = false;
  /** The report body after its lead, once delivering: what a call accepted late is matched against. */
  private body = '';
  /** Where each streamed piece of text went: from which offset of the text, in which message. */
  private places: { from: number; ts: string }[] = [];
  private readonly waiters: { end: number; resolve: (ok: boolean) => void }[] = [];

  /** A report part waits to be shown. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** Text is wanted that is not shown yet. */
  get behind(): boolean {
    return this.target.length > this.sent.length;
  }

  /**
   * From now on the text is the report body `full` (no longer the progress views' draft): what was streamed is matched
   * to it, and an opening of `full` the stream never showed becomes the `lead`. Returns the lead's length.
   */
  align(full: string): number {
    if (this.delivering) return this.lead;
    this.delivering = true;
    this.lead = leadOf(this.sent, full);
    this.body = full.slice(this.lead);
    this.sent = reconcile(this.sent, this.body);
    this.target = this.sent;
    return this.lead;
  }

  /** The text must show `full` (after its lead) up to `end`. Resolves false when it cannot. */
  deliver(whole: string, upTo: number, timeoutMs: number): Promise<boolean> {
    this.align(whole);
    const full = whole.slice(this.lead);
    const end = upTo - this.lead;
    // Only the lead, which is not the stream's to show.
    if (end <= 0) return Promise.resolve(true);
    if (!full.startsWith(this.target)) return Promise.resolve(false);
    if (end > this.target.length) this.target = full.slice(0, end);
    if (this.sent.length >= end) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { end, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        // Too slow: the part goes out as a message, and the stream takes no more text so nothing shows twice.
        this.freeze();
        resolve(false);
      }, timeoutMs).unref();
    });
  }

  /** Where in `full` (the report body) what the streams show ends, the lead counted as shown: 0 when no report text was streamed. */
  shownOf(full: string): number {
    return this.sent ? this.lead + reconcile(this.sent, full.slice(this.lead)).length : 0;
  }

  freeze(): void {
    this.frozen = true;
    this.fail();
  }

  /** The stream can show no more: every part waiting for it is told so. */
  fail(): void {
    for (const w of this.waiters.splice(0)) w.resolve(false);
  }

  /** New report text from a progress view: it only grows; a rendering that changed what is shown is matched block for block. */
  fromView(text: string): void {
    if (this.frozen || this.reportOnly || text.length <= this.target.length) return;
    if (!text.startsWith(this.sent)) this.sent = reconcile(this.sent, text);
    this.target = text;
  }

  /**
   * The whole blocks of text not shown yet that fit in `room`: the piece to append and the text shown once it is;
   * 'later' when not even one block fits now but one would in a fresh message.
   */
  next(room: number, maxChars: number): { piece: string; sent: string } | 'later' | undefined {
    const pending = this.target.slice(this.sent.length);
    if (this.frozen || !pending.trim() || !this.target.startsWith(this.sent)) return undefined;
    const body = pending.trimStart();
    const lead = pending.length - body.length;
    const fit = fitBlocks(body, room);
    if (fit > 0) return { piece: body.slice(0, fit).trimEnd(), sent: this.target.slice(0, this.sent.length + lead + fit) };
    if (fitBlocks(body, maxChars) > 0) return 'later';
    // One block larger than a whole message: the report parts carry it, and all after it.
    this.freeze();
    return undefined;
  }

  /** Slack accepted a call to message `ts`: the text it showed (if any) is shown, and the parts waiting for it go on. */
  advance(sent: string, ts?: string): void {
    // A block already shown may have been rendered anew meanwhile (a citation linked): what was accepted still counts,
    // also when it went out as draft text before the report arrived and reaches past what is delivered so far.
    const ref = this.delivering && this.body.length > this.target.length ? this.body : this.target;
    const shown = ref.startsWith(sent) ? sent : reconcile(sent, ref);
    if (shown.length > this.sent.length) {
      if (ts) this.places.push({ from: this.sent.length, ts });
      this.sent = shown;
    }
    for (const w of [...this.waiters]) {
      if (this.sent.length >= w.end) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(true);
      }
    }
  }

  /** Nothing of the report is needed any more. */
  clear(): void {
    this.sent = '';
    this.target = '';
    this.body = '';
    this.places = [];
  }

  /** The streamed message that shows the report body from `offset` on (offsets of the body, lead included), if one does. */
  messageAt(offset: number): string | undefined {
    const at = Math.max(0, offset - this.lead);
    let found = this.places[0]?.ts;
    for (const p of this.places) if (p.from <= at) found = p.ts;
    return found;
  }

  /** A retried run: no text yet. */
  reset(): void {
    this.clear();
    this.frozen = false;
    this.delivering = false;
    this.lead = 0;
  }
}

/** The length of the longest run of whole blocks at the start of `markdown` within `max` characters (0: not even one). */
export function fitBlocks(markdown: string, max: number): number {
  if (markdown.length <= max) return markdown.length;
  const tokens = markdownBlocks(markdown);
  // Offsets come from the blocks' own text; should it not add up to the document, only the whole document is a block.
  if (tokens.map((t) => t.raw).join('') !== markdown) return 0;
  let at = 0;
  for (const t of tokens) {
    if (at + t.raw.trimEnd().length > max) break;
    at += t.raw.length;
  }
  return Math.min(at, max);
}

/**
 * `shown` in the terms of `full`: when the text shown so far is not a prefix of the text as it is now rendered (a
 * citation linked later), the blocks shown are taken to be the same number of blocks of `full`.
 */
export function reconcile(shown: string, full: string): string {
  if (full.startsWith(shown)) return shown;
  const count = markdownBlocks(shown).filter((t) => t.type !== 'space').length;
  let at = 0;
  let seen = 0;
  for (const t of markdownBlocks(full)) {
    if (seen >= count) break;
    at += t.raw.length;
    if (t.type !== 'space') seen++;
  }
  return full.slice(0, at);
}

/** Blocks of the streamed text tried against the report body when looking for an opening the stream never showed. */
const LEAD_PROBES = 3;

/**
 * The length of the opening of `full` that `shown` (text already streamed) lacks: when one of the first blocks shown is
 * found further into `full` than it was in `shown`, the blocks before it in `full` are new. 0 when nothing was shown,
 * when `full` starts as `shown` does, or when the two cannot be matched block for block (then they are taken to
 * correspond, as `reconcile` does).
 */
export function leadOf(shown: string, full: string): number {
  if (!shown.trim() || full.startsWith(shown)) return 0;
  const seen = markdownBlocks(shown)
    .filter((t) => t.type !== 'space')
    .slice(0, LEAD_PROBES)
    .map((t) => t.raw.trim());
  const tokens = markdownBlocks(full);
  const starts: number[] = [];
  let at = 0;
  for (const t of tokens) {
    if (t.type !== 'space') starts.push(at);
    at += t.raw.length;
  }
  const content = tokens.filter((t) => t.type !== 'space').map((t) => t.raw.trim());
  for (let k = 0; k < seen.length; k++) {
    const j = content.indexOf(seen[k]!);
    if (j < 0) continue;
    const leadBlocks = j - k;
    if (leadBlocks <= 0) return 0;
    const lead = starts[leadBlocks]!;
    // The offsets come from the blocks' own text: should they not add up to the document, no lead is assumed.
    return full.slice(lead).trimStart().startsWith(content[leadBlocks]!) ? lead : 0;
  }
  return 0;
}
