/**
 * Scripted qwen-deep-research streams, frame for frame like the recorded captures in
 * test/fixtures/dashscope-captures (incremental output, `fininshed` typo, cumulative usage).
 */

export interface ScriptReference {
  url: string;
  title: string;
}

export interface ResearchScript {
  rounds: number;
  sitesPerRound: number;
  /** Characters per content/query/goal delta. */
  chunk: number;
  report: string;
  references: ScriptReference[];
  /** One KeepAlive frame after each round. */
  keepAlive: boolean;
  /**
   * Snapshot model only (`qwen-deep-research-2025-12-15`): where the research object sits, `research` (the official
   * sample code, and every recorded mainline frame; default) or `query` (the documented sample frame).
   */
  snapshotContainer?: 'research' | 'query';
  /** Snapshot model only: also stream thinking text in `content` before each round's goal (not documented). */
  snapshotThinkingText?: boolean;
}

/** The snapshot model, whose WebResearch rounds stream as `streamingThinking` (reference/dashscope.md §2.1). */
export const SNAPSHOT_MODEL = 'qwen-deep-research-2025-12-15';

export const REQUEST_ID = 'eee227a4-d38f-4b8e-8c7f-167e76dbdc34';

export function defaultReferences(n = 4): ScriptReference[] {
  return Array.from({ length: n }, (_, i) => ({ url: `https://example.org/source-${i + 1}`, title: `Source ${i + 1}` }));
}

/** A Markdown report with a title, sections, a table and citations `[[n]]` / `[[n,m]]`. */
export function sampleReport(sections = 3, paragraphsPerSection = 2): string {
  const parts = ['# Personalised learning with AI', '', 'This report looks at how AI supports personalised learning [[1]].', ''];
  for (let s = 1; s <= sections; s++) {
    parts.push(`## Section ${s}: findings`, '');
    for (let p = 1; p <= paragraphsPerSection; p++) {
      parts.push(
        `Paragraph ${s}.${p}: adaptive systems model each learner's knowledge and choose the next exercise [[${((s + p) % 4) + 1}]]. ` +
          `Studies report gains in engagement and outcomes, with caveats about data quality [[2,3]].`,
        '',
      );
    }
    if (s === 1) {
      parts.push('| System | Approach |', '| --- | --- |', '| Tutor A | Knowledge tracing |', '| Tutor B | Graph learning |', '');
    }
  }
  parts.push('## Conclusion', '', 'AI can personalise learning when data and teachers are in the loop [[4]].');
  return parts.join('\n');
}

export function defaultScript(overrides: Partial<ResearchScript> = {}): ResearchScript {
  return { rounds: 3, sitesPerRound: 4, chunk: 40, report: sampleReport(), references: defaultReferences(), keepAlive: true, ...overrides };
}

function chunks(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

type Frame = Record<string, unknown>;

class FrameBuilder {
  readonly frames: Frame[] = [];
  private outputTokens = 0;
  constructor(private readonly inputTokens: number) {}

  push(phase: string, status: string, content: string, deepResearch: Record<string, unknown> = {}): void {
    this.outputTokens += Math.max(1, Math.ceil(content.length / 2));
    this.frames.push({
      output: {
        message: { phase, role: 'assistant', content, extra: { deep_research: deepResearch }, status },
        fininshed: false,
        fininshed_reason: 'null',
      },
      usage: { input_tokens: this.inputTokens, output_tokens: this.outputTokens },
      request_id: REQUEST_ID,
    });
  }
}

/** Step 1: the clarifying question, streamed in phase `answer`. */
export function clarifyFrames(question: string, chunk = 12): Frame[] {
  const b = new FrameBuilder(196);
  for (const c of chunks(question, chunk)) b.push('answer', 'typing', c);
  b.push('answer', 'finished', '');
  return b.frames;
}

function planFrames(b: FrameBuilder, script: ResearchScript): void {
  const plan = 'This research focuses on how AI personalises learning: techniques, cases and limits.';
  for (const c of chunks(plan, script.chunk)) b.push('ResearchPlanning', 'typing', c);
  b.push('ResearchPlanning', 'finished', '');
}

/** The sites a round finds; the last round finds the pages the report will cite (as a real research does), up to its share. */
function roundSites(script: ResearchScript, id: number) {
  if (id === script.rounds && script.references.length > 0) {
    return script.references.slice(0, script.sitesPerRound).map((r) => ({ description: `About ${r.title}`, title: r.title, favicon: '', url: r.url }));
  }
  return Array.from({ length: script.sitesPerRound }, (_, i) => ({
    description: `Summary of page ${i + 1} for round ${id}`,
    title: `Page ${i + 1} of round ${id}`,
    favicon: '',
    url: `https://site-${id}-${i + 1}.example.com/article`,
  }));
}

function answerFrames(b: FrameBuilder, script: ResearchScript): void {
  b.push('WebResearch', 'finished', '');
  const references = script.references.map((r, i) => ({
    icon: '',
    description: `About ${r.title}`,
    index_number: i + 1,
    title: r.title,
    url: r.url,
  }));
  const [first = '', ...rest] = chunks(script.report, script.chunk);
  b.push('answer', 'typing', first, { references });
  for (const c of rest) b.push('answer', 'typing', c);
  b.push('answer', 'finished', '');
}

/** Step 2: plan, search rounds, keep-alives, then the report with its references. */
export function researchFrames(script: ResearchScript): Frame[] {
  const b = new FrameBuilder(652);
  planFrames(b, script);
  for (let id = 1; id <= script.rounds; id++) {
    for (const c of chunks(`search query for round ${id}`, script.chunk)) {
      b.push('WebResearch', 'streamingQueries', '', { research: { id, query: c } });
    }
    for (const c of chunks(`Understand aspect ${id} of the topic in depth`, script.chunk)) {
      b.push('WebResearch', 'streamingQueries', '', { research: { id, researchGoal: c, query: '' } });
    }
    const sites = roundSites(script, id);
    // webSites arrive as growing list snapshots, repeated (the capture printed "found 9 pages" five times).
    for (let n = 1; n <= sites.length; n++) {
      b.push('WebResearch', 'streamingWebResult', '', { research: { id, webSites: sites.slice(0, n) } });
    }
    b.push('WebResearch', 'streamingWebResult', '', { research: { id, webSites: sites } });
    for (const c of chunks(`Learning from round ${id}.`, script.chunk)) {
      b.push('WebResearch', 'streamingWebResult', '', { research: { id, learningMap: { [String(id * 10 + 1)]: c } } });
    }
    b.push('WebResearch', 'WebResultFinished', '', { research: { id } });
    if (script.keepAlive) b.push('KeepAlive', 'typing', '');
  }
  answerFrames(b, script);
  return b.frames;
}

/**
 * Step 2 of the snapshot model: the same plan and answer; each round streams as `streamingThinking` (documented as
 * "decomposing the research task and summarising web pages", replacing `streamingQueries` and `streamingWebResult`)
 * carrying the same research fields (goal, query, sites, page summaries), then `WebResultFinished`. No snapshot
 * capture exists: the field names come from the documented sample frame and the official sample code.
 */
export function snapshotResearchFrames(script: ResearchScript): Frame[] {
  const b = new FrameBuilder(652);
  const container = script.snapshotContainer ?? 'research';
  const thinking = (id: number, content: string, fields: Record<string, unknown> = {}) =>
    b.push('WebResearch', 'streamingThinking', content, { [container]: { id, ...fields } });
  planFrames(b, script);
  for (let id = 1; id <= script.rounds; id++) {
    if (script.snapshotThinkingText) {
      for (const c of chunks(`Thinking: round ${id} should look at aspect ${id} next.`, script.chunk)) thinking(id, c);
    }
    for (const c of chunks(`Understand aspect ${id} of the topic in depth`, script.chunk)) thinking(id, '', { researchGoal: c, query: '' });
    for (const c of chunks(`search query for round ${id}`, script.chunk)) thinking(id, '', { query: c });
    const sites = roundSites(script, id);
    for (let n = 1; n <= sites.length; n++) thinking(id, '', { webSites: sites.slice(0, n) });
    for (const c of chunks(`Learning from round ${id}.`, script.chunk)) thinking(id, '', { learningMap: { [String(id * 10 + 1)]: c } });
    b.push('WebResearch', 'WebResultFinished', '', { [container]: { id } });
    if (script.keepAlive) b.push('KeepAlive', 'typing', '');
  }
  answerFrames(b, script);
  return b.frames;
}

/** A message's content: a string, or (qwen-deep-research with images) `{image}` items and a `{text}` item. */
export type RecordedContent = string | ({ image: string } | { text: string })[];

/**
 * qwen-deep-research's image rules (reference/dashscope.md §2.1): content arrays of `{image}` and `{text}` items,
 * at most 5 images, each a URL or a data URI of JPEG, PNG, BMP or WEBP. The real messages for these refusals
 * are not documented; the fake answers InvalidParameter.
 */
export function invalidImages(messages: { role: string; content: RecordedContent }[]): string | undefined {
  let images = 0;
  for (const m of messages) {
    if (typeof m.content === 'string') continue;
    if (m.role !== 'user' || !Array.isArray(m.content)) return 'Only user messages may carry images.';
    for (const item of m.content as Record<string, unknown>[]) {
      const keys = Object.keys(item ?? {});
      if (keys.length !== 1 || !['image', 'text'].includes(keys[0]!) || typeof item[keys[0]!] !== 'string') {
        return 'Each content item must be {"image": …} or {"text": …}.';
      }
      if (keys[0] !== 'image') continue;
      images++;
      const url = item.image as string;
      if (!/^https?:\/\//.test(url) && !/^data:image\/(jpeg|png|bmp|webp);base64,[A-Za-z0-9+/]+=*$/.test(url)) {
        return 'The image must be a URL or a base64 data URI of a JPEG, PNG, BMP or WEBP image.';
      }
    }
  }
  return images > 5 ? 'At most 5 images may be sent in one request.' : undefined;
}

/** Serialises frames exactly as DashScope does: `id:`, `event:result`, the status comment, `data:`; no `[DONE]`. */
export function sseFrame(id: number, data: Frame, event = 'result', status = 200): string {
  return `id:${id}\nevent:${event}\n:HTTP_STATUS/${status}\ndata:${JSON.stringify(data)}\n`;
}
