import { DeltaField, DeltaFields } from './deltas.js';
import { ResearchError, type Reference, type ResearchEvent, type ResearchPhase, type WebSite } from '../core/ports/research.js';

const PHASES: Record<string, ResearchPhase> = {
  ResearchPlanning: 'planning',
  WebResearch: 'searching',
  answer: 'writing',
};

interface RawSite {
  url?: unknown;
  title?: unknown;
  description?: unknown;
}

/**
 * Turns qwen-deep-research frames (reference/dashscope.md §2.2) into ResearchEvents, one frame at a time.
 *
 * Both models are mapped by the frames themselves, not by the model's name. The mainline model streams a round as
 * `streamingQueries` (goal, query) then `streamingWebResult` (sites, page summaries). The snapshot model
 * `qwen-deep-research-2025-12-15` uses one status, `streamingThinking`, for both ("拆解研究任务并总结网页内容", reference
 * §2.1 and the qianwenai API reference): its research object fields give the same events. What the snapshot adds,
 * and the mainline never sends:
 * - the research object may sit under `extra.deep_research.query` (the documented sample) instead of `research`
 *   (the official sample code and every recorded frame); either is read, `research` first;
 * - text in `content` of a `streamingThinking` frame (not documented, handled in case it comes) is the model's
 *   thinking: shown as its round's goal while the round has no `researchGoal`, as plan text before the first round;
 * - rounds still open when WebResearch ends are closed (`round-end`), since no capture shows that every snapshot
 *   round ends with `WebResultFinished`.
 */
export class QwenMapper {
  private phase: ResearchPhase | undefined;
  private readonly plan = new DeltaField();
  private readonly answer = new DeltaField();
  private readonly queries = new DeltaFields();
  private readonly goals = new DeltaFields();
  private readonly learnings = new DeltaFields();
  private readonly roundsSeen = new Set<number>();
  private readonly roundsEnded = new Set<number>();
  private readonly sitesSeen = new Map<number, Set<string>>();
  private readonly referencesSeen = new Set<number>();
  /** Snapshot model: a `streamingThinking` frame was seen. */
  private thinkingModel = false;
  /** Thinking text before the first round (shown as plan text), and per round (shown as the round's goal). */
  private readonly planThinking = new DeltaField();
  private readonly thinking = new DeltaFields();
  /** Rounds whose goal so far is thinking text, and rounds that have a `researchGoal`. */
  private readonly thinkingGoals = new Set<number>();
  private readonly researchGoals = new Set<number>();
  private lastRound: number | undefined;
  private answerFinished = false;
  private outputTokens = -1;
  private usage: { inputTokens: number; outputTokens: number } | undefined;
  private requestId: string | undefined;

  map(json: Record<string, unknown>): ResearchEvent[] {
    const events: ResearchEvent[] = [];
    if (typeof json.request_id === 'string') this.requestId = json.request_id;
    const output = json.output as { message?: Record<string, unknown> } | undefined;
    const msg = output?.message;
    if (msg) this.mapMessage(msg, events);
    const usage = json.usage as { input_tokens?: unknown; output_tokens?: unknown } | undefined;
    if (usage && typeof usage.output_tokens === 'number' && usage.output_tokens !== this.outputTokens) {
      this.outputTokens = usage.output_tokens;
      this.usage = { inputTokens: Number(usage.input_tokens) || 0, outputTokens: usage.output_tokens };
      events.push({ type: 'usage', usage: this.usage });
    }
    return events;
  }

  /** The end of the stream: `done` when the answer finished, otherwise the run was cut short. */
  finish(): ResearchEvent {
    if (!this.answerFinished) {
      throw new ResearchError('truncated', 'The research stream ended before the answer was finished.', { requestId: this.requestId });
    }
    return { type: 'done', requestId: this.requestId, usage: this.usage };
  }

  private mapMessage(msg: Record<string, unknown>, events: ResearchEvent[]): void {
    const rawPhase = String(msg.phase ?? '');
    const status = String(msg.status ?? '');
    if (rawPhase === 'KeepAlive') {
      events.push({ type: 'keepalive' });
      return;
    }
    const phase = PHASES[rawPhase];
    if (!phase) return;
    if (phase !== this.phase) {
      if (this.phase === 'searching') this.closeOpenRounds(events);
      this.phase = phase;
      events.push({ type: 'phase', phase });
    }
    const content = typeof msg.content === 'string' ? msg.content : '';
    const extra = (msg.extra as { deep_research?: Record<string, unknown> } | undefined)?.deep_research ?? {};
    if (phase === 'planning') {
      const delta = this.plan.push(content);
      if (delta) events.push({ type: 'plan', delta });
    } else if (phase === 'searching') {
      if (status === 'streamingThinking') this.thinkingModel = true;
      this.mapResearch(researchObject(extra), status, events);
      if (status === 'streamingThinking' && content) this.mapThinking(researchObject(extra), content, events);
      if (status === 'finished') this.closeOpenRounds(events);
    } else {
      this.mapAnswer(content, extra.references, events);
      if (status === 'finished') this.answerFinished = true;
    }
  }

  private mapResearch(research: Record<string, unknown> | undefined, status: string, events: ResearchEvent[]): void {
    if (!research || typeof research.id !== 'number') return;
    const round = research.id;
    this.lastRound = round;
    if (!this.roundsSeen.has(round)) {
      this.roundsSeen.add(round);
      events.push({ type: 'round', round });
    }
    const key = String(round);
    if (typeof research.query === 'string') {
      const delta = this.queries.push(key, research.query);
      if (delta) events.push({ type: 'query', round, delta });
    }
    if (typeof research.researchGoal === 'string') {
      const delta = this.goals.push(key, research.researchGoal);
      if (delta) {
        this.researchGoals.add(round);
        // The documented goal after thinking text shown in its place: start it on a line of its own.
        const separated = this.thinkingGoals.delete(round) ? `\n${delta}` : delta;
        events.push({ type: 'goal', round, delta: separated });
      }
    }
    if (Array.isArray(research.webSites)) {
      const sites = this.newSites(round, research.webSites as RawSite[]);
      if (sites.length > 0) events.push({ type: 'sites', round, sites });
    }
    if (research.learningMap && typeof research.learningMap === 'object') {
      for (const [k, v] of Object.entries(research.learningMap as Record<string, unknown>)) {
        if (typeof v !== 'string') continue;
        const delta = this.learnings.push(`${key}:${k}`, v);
        if (delta) events.push({ type: 'learning', round, key: k, delta });
      }
    }
    if (status === 'WebResultFinished') {
      // Mainline: every WebResultFinished is passed on, as before. Snapshot: a round ends once.
      if (!this.thinkingModel || !this.roundsEnded.has(round)) events.push({ type: 'round-end', round });
      this.roundsEnded.add(round);
    }
  }

  /** Snapshot model: `content` of a `streamingThinking` frame, as its round's goal or, before any round, as plan text. */
  private mapThinking(research: Record<string, unknown> | undefined, text: string, events: ResearchEvent[]): void {
    const round = typeof research?.id === 'number' ? research.id : this.lastRound;
    if (round === undefined) {
      const delta = this.planThinking.push(text);
      if (!delta) return;
      const first = this.planThinking.value === delta;
      events.push({ type: 'plan', delta: first && this.plan.value ? `\n\n${delta}` : delta });
      return;
    }
    if (this.researchGoals.has(round)) return;
    if (!this.roundsSeen.has(round)) {
      this.roundsSeen.add(round);
      events.push({ type: 'round', round });
    }
    const delta = this.thinking.push(String(round), text);
    if (!delta) return;
    this.thinkingGoals.add(round);
    events.push({ type: 'goal', round, delta });
  }

  /** Snapshot model: WebResearch is over, so every round still open has ended. */
  private closeOpenRounds(events: ResearchEvent[]): void {
    if (!this.thinkingModel) return;
    for (const round of this.roundsSeen) {
      if (this.roundsEnded.has(round)) continue;
      this.roundsEnded.add(round);
      events.push({ type: 'round-end', round });
    }
  }

  private newSites(round: number, raw: RawSite[]): WebSite[] {
    let seen = this.sitesSeen.get(round);
    if (!seen) {
      seen = new Set();
      this.sitesSeen.set(round, seen);
    }
    const sites: WebSite[] = [];
    for (const s of raw) {
      if (typeof s?.url !== 'string' || !s.url || seen.has(s.url)) continue;
      seen.add(s.url);
      sites.push({ url: s.url, title: String(s.title ?? ''), description: String(s.description ?? '') });
    }
    return sites;
  }

  private mapAnswer(content: string, rawRefs: unknown, events: ResearchEvent[]): void {
    if (Array.isArray(rawRefs)) {
      // References come once, in the first answer frame; should more arrive, only new ones are passed on.
      const fresh = toReferences(rawRefs).filter((r) => !this.referencesSeen.has(r.index));
      for (const r of fresh) this.referencesSeen.add(r.index);
      if (fresh.length > 0) events.push({ type: 'references', references: fresh });
    }
    const delta = this.answer.push(content);
    if (delta) events.push({ type: 'answer', delta });
  }
}

/** The research object of a WebResearch frame: `research` on the wire, `query` in the documented sample. */
function researchObject(extra: Record<string, unknown>): Record<string, unknown> | undefined {
  for (const candidate of [extra.research, extra.query]) {
    if (candidate && typeof candidate === 'object' && !Array.isArray(candidate)) return candidate as Record<string, unknown>;
  }
  return undefined;
}

function toReferences(raw: unknown[]): Reference[] {
  const refs: Reference[] = [];
  raw.forEach((r, i) => {
    const ref = r as { index_number?: unknown; url?: unknown; title?: unknown; description?: unknown };
    if (typeof ref?.url !== 'string' || !ref.url) return;
    refs.push({
      index: typeof ref.index_number === 'number' ? ref.index_number : i + 1,
      url: ref.url,
      title: String(ref.title ?? ''),
      description: String(ref.description ?? ''),
    });
  });
  return refs;
}
