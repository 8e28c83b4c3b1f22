import { blocks as markdownBlocks } from '../../common/markdown.js';

/** The report text of one run's streamed messages: what they show so far, what they should show, the parts waiting for it. */
export class StreamText {
  /** Report text shown so far, over all segments: a prefix of `target`. */
  sent = '';
  frozen = false;
  /** The report is being delivered through the stream: its text no longer comes from progress views. */
  delivering = false;
  private target = '';
  private readonly waiters: { end: number; resolve: (ok: boolean) => void }[] = [];

  /** A report part waits to be shown. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** Text is wanted that is not shown yet. */
  get behind(): boolean {
    return this.target.length > this.sent.length;
  }

  /** The text must show `full` up to `end`. Resolves false when it cannot. */
  deliver(full: string, end: number, timeoutMs: number): Promise<boolean> {
    if (!this.delivering) {
      this.delivering = true;
      this.sent = reconcile(this.sent, full);
      this.target = this.sent;
    }
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

  /** How much of `full` (the report body) the streams show: none of it when no report text was streamed. */
  shownOf(full: string): number {
    return this.sent ? reconcile(this.sent, full).length : 0;
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
    if (this.frozen || text.length <= this.target.length) return;
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

  /** Slack accepted a call: the text it showed (if any) is shown, and the parts waiting for it go on. */
  advance(sent: string): void {
    // A block already shown may have been rendered anew meanwhile (a citation linked): what was accepted still counts.
    const shown = this.target.startsWith(sent) ? sent : reconcile(sent, this.target);
    if (shown.length > this.sent.length) this.sent = shown;
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
  }

  /** A retried run: no text yet. */
  reset(): void {
    this.clear();
    this.frozen = false;
    this.delivering = false;
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
