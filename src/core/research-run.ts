import type { Input } from './conversation.js';
import type { FileRef, Platform } from './ports/chat.js';
import { strings } from './i18n.js';
import { sniffImage } from './images.js';
import type { Logger } from './ports/logger.js';
import { ResearchError, type AttachedFile, type AttachedImage, type ReportFormat, type ResearchBackend, type ResearchRequest, type Usage } from './ports/research.js';
import type { Telemetry } from './ports/telemetry.js';
import type { Result, ThreadState } from './ports/thread.js';
import { advance, isMilestone, startProgress, type Progress } from './progress.js';

/** How long a person's attachment may take to download. */
const DOWNLOAD_TIMEOUT_MS = 120_000;

export interface ResearchRunOptions {
  backend: ResearchBackend;
  format: ReportFormat;
  clock: () => number;
  log: Logger;
  telemetry: Telemetry;
  /** Least time between two progress views of one run, unless the phase or round changed. */
  progressIntervalMs: number;
}

export interface RunHooks {
  /** The run's progress changed (every event). */
  progress(p: Progress): void;
  /** Time to show the latest progress: at once on a milestone, otherwise at most once per interval. */
  show(): void;
  /** Asked to clarify, the backend went straight into research; resolves with the thread as it now is. */
  direct(): Promise<ThreadState | undefined>;
}

/**
 * One research run: builds the request (with attached files, when the backend reads them), streams the
 * backend's events into progress, throttled on the injected clock, and maps the end (answer or error) to the
 * input the conversation takes next. Undefined when the run was aborted (cancelled, or left for recovery).
 */
/** How a run ended (undefined input: aborted) and the tokens it used, billed whatever the end. */
export interface RunEnd {
  input?: Input;
  usage?: Usage;
}

export async function runResearch(opts: ResearchRunOptions, start: ThreadState, platform: Platform, signal: AbortSignal, hooks: RunHooks): Promise<RunEnd> {
  let s = start;
  const throttle = new ProgressThrottle(opts.progressIntervalMs, opts.clock);
  let progress = startProgress(opts.clock());
  let usage: Usage | undefined;
  const result: Result = { answer: '', references: [] };
  const visited = new Set<string>();
  try {
    for await (const e of opts.backend.run(await request(opts, s, platform), signal)) {
      if (e.type === 'answer') result.answer += e.delta;
      else if (e.type === 'references') result.references.push(...e.references);
      else if (e.type === 'files') Object.assign(result, { files: e.files, filePath: e.filePath });
      else if (e.type === 'sites') for (const site of e.sites) visited.add(site.url);
      if (e.type === 'usage' || (e.type === 'done' && e.usage)) usage = e.usage;
      const direct = (e.type === 'phase' && e.phase === 'searching') || (e.type === 'done' && e.report === true);
      if (s.step === 1 && direct) s = (await hooks.direct()) ?? s;
      if (s.step === 2) {
        const next = advance(progress, e, opts.clock());
        const milestone = isMilestone(progress, next);
        progress = next;
        hooks.progress(progress);
        throttle.changed(milestone, hooks.show);
      }
    }
    if (usage) opts.telemetry.tokensUsed(usage);
    if (visited.size > 0) result.visited = [...visited];
    const now = opts.clock();
    return { usage, input: s.step === 1 ? { type: 'clarified', question: result.answer.trim(), now } : { type: 'answered', result, usage, now } };
  } catch (err) {
    // Cancelled by the person (already recorded) or by shutdown (left for recovery).
    if (signal.aborted) return { usage };
    return { usage, input: failure(opts, s, err) };
  } finally {
    throttle.stop();
  }
}

function failure(opts: ResearchRunOptions, s: ThreadState, err: unknown): Input {
  const error = err instanceof ResearchError ? err : undefined;
  opts.telemetry.researchFailed(error?.code ?? 'internal');
  if (!error) opts.log.error({ thread: s.key, err }, 'research run failed unexpectedly');
  else opts.log.warn({ thread: s.key, code: error.code, requestId: error.requestId, status: error.status }, 'research run failed');
  return {
    type: 'failed',
    code: error?.code ?? 'internal',
    detail: error?.code === 'file_rejected' ? error.message : error?.upstreamCode,
    retryable: error ? error.retryable || error.code === 'quota' : true,
    now: opts.clock(),
  };
}

/**
 * Step 1: [topic]; step 2: [topic, question, answer], or [topic] without clarification; a "Research further" round:
 * [the earlier report's summary and the focus], without clarification.
 */
async function request(opts: ResearchRunOptions, s: ThreadState, platform: Platform): Promise<ResearchRequest> {
  const files = await attachments(opts, s, platform);
  const images = await imagesOf(opts, s, platform);
  const base = { format: opts.format, channel: s.channel, ...(files.length ? { files } : {}), ...(images.length ? { images } : {}) };
  if (s.further && s.answer) {
    return { messages: [{ role: 'user', content: strings(s.lang).followup.request(s.further.topic, s.further.summary, s.answer) }], clarify: false, ...base };
  }
  if (s.step === 1) return { messages: [{ role: 'user', content: s.topic }], clarify: true, ...base };
  if (!s.question || !s.answer) return { messages: [{ role: 'user', content: s.topic }], clarify: false, ...base };
  return {
    messages: [
      { role: 'user', content: s.topic },
      { role: 'assistant', content: s.question },
      { role: 'user', content: s.answer },
    ],
    clarify: true,
    ...base,
  };
}

/** The request's attached files, fetched from the platform for this run, within the backend's size cap. */
async function attachments(opts: ResearchRunOptions, s: ThreadState, platform: Platform): Promise<AttachedFile[]> {
  const limits = opts.backend.files;
  if (!s.files?.length || !platform.download || !limits) return [];
  return Promise.all(s.files.map(async (f) => ({ name: f.name, data: await fetchFile(s, platform, f, limits.maxBytes) })));
}

/** The request's images, fetched from the platform for this run (step 1 and step 2 alike), within the backend's caps. */
async function imagesOf(opts: ResearchRunOptions, s: ThreadState, platform: Platform): Promise<AttachedImage[]> {
  const limits = opts.backend.images;
  if (!s.images?.length || !platform.download || !limits) return [];
  const out: AttachedImage[] = [];
  for (const f of s.images.slice(0, limits.maxImages)) {
    const data = await fetchFile(s, platform, f, limits.maxBytes);
    // The bytes decide the type: what a platform declares may be wrong or missing.
    const mime = sniffImage(data);
    if (!mime || !limits.types.includes(mime)) throw new ResearchError('file_rejected', `${f.name} is not a JPEG, PNG, BMP or WEBP image.`);
    out.push({ name: f.name, mime, data });
  }
  return out;
}

async function fetchFile(s: ThreadState, platform: Platform, f: FileRef, maxBytes: number): Promise<Uint8Array> {
  try {
    return await platform.download!(s.key, f, { maxBytes, timeoutMs: DOWNLOAD_TIMEOUT_MS });
  } catch (err) {
    // The platform's message names the file and says why.
    throw new ResearchError('file_rejected', (err as Error)?.message || `${f.name} could not be fetched from the chat.`, { cause: err });
  }
}

/** Passes progress on at most once per interval, at once on a milestone, and once more after a quiet spell. */
export class ProgressThrottle {
  private last = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private publish: (() => void) | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly clock: () => number,
  ) {}

  changed(milestone: boolean, publish: () => void): void {
    this.publish = publish;
    const now = this.clock();
    if (milestone || now - this.last >= this.intervalMs) this.fire();
    else this.timer ??= setTimeout(() => this.fire(), this.intervalMs - (now - this.last));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.stop();
    this.last = this.clock();
    this.publish?.();
  }
}
