import type { Logger } from '../core/ports/logger.js';
import { boundedDownload } from '../common/download.js';
import { AGENT_APP_PATH, MAX_SESSION_FILE_BYTES, MAX_SESSION_FILES, postJson, uploadSessionFiles, type AgentHttp } from './agent-files.js';
import { renderAgentTags } from './agent-tags.js';
import { DeltaField } from './deltas.js';
import { streamDashScope } from './sse.js';
import { ResearchError, type ReportFile, type ResearchBackend, type ResearchEvent, type ResearchPhase, type ResearchRequest, type Usage, type WebSite } from '../core/ports/research.js';

export interface AgentOptions extends AgentHttp {
  agentId: string;
  agentVersion: string;
  retries?: number;
  retryBaseMs?: number;
  /** First wait before asking whether uploaded session files are ready (then longer, up to 10 s). */
  filePollMs?: number;
  /** Deadline for each report-link download, headers and body together (default 60 s). */
  downloadTimeoutMs?: number;
  /** Where refused or failed report links are noted (the run falls back to the streamed text). */
  log?: Logger;
}

/**
 * Caps on the report files. A long detailed report is a few hundred KB of Markdown; 5 MB is ten times that
 * and still bounded (the text is posted as messages and kept in the store). The HTML wraps the same text in
 * markup and styles, so it gets twice that.
 */
export const REPORT_MAX_BYTES = { md_url: 5 * 1024 * 1024, html_url: 10 * 1024 * 1024 } as const;
export const REPORT_DOWNLOAD_TIMEOUT_MS = 60_000;

export const AGENT_CHAT_PATH = `${AGENT_APP_PATH}/chat/completions`;

export function agentRequestBody(opts: Pick<AgentOptions, 'agentId' | 'agentVersion'>, req: ResearchRequest, sessionFiles: string[]): Record<string, unknown> {
  return {
    stream: true,
    input: { messages: req.messages.map((m) => ({ role: m.role, content: m.content })) },
    parameters: {
      agent_options: { agent_id: opts.agentId, agent_version: opts.agentVersion, ...(sessionFiles.length ? { session_files: sessionFiles } : {}) },
    },
  };
}

/**
 * DashScope's deep-search-agent app behind the same ResearchEvent contract as qwen.ts. The answer is held
 * back until the end: the report is the Markdown file the agent links in its last frame (downloaded at
 * once, since the link lasts 15 minutes, and re-minted through /file/expose if it has lapsed), with the
 * agent's `<qwen:cite>` and `<qwen:takeaway>` tags turned into citations and quotes.
 */
export function createAgentBackend(opts: AgentOptions): ResearchBackend {
  return {
    name: 'deep-search-agent',
    files: { maxFiles: MAX_SESSION_FILES, maxBytes: MAX_SESSION_FILE_BYTES },
    async *run(req, signal) {
      const sessionFiles = req.files?.length ? await uploadSessionFiles(opts, req.files, signal, opts.filePollMs) : [];
      const mapper = new AgentMapper();
      const frames = streamDashScope({
        url: new URL(AGENT_CHAT_PATH, opts.baseUrl).toString(),
        apiKey: opts.apiKey,
        body: agentRequestBody(opts, req, sessionFiles),
        signal,
        idleTimeoutMs: opts.timeoutMs,
        retries: opts.retries,
        retryBaseMs: opts.retryBaseMs,
        dispatcher: opts.dispatcher,
      });
      for await (const frame of frames) yield* mapper.map(frame.json);
      const out = mapper.result();
      const md = out.links.md ? await fetchLinked(opts, out.links.md, out.filePath, 'md_url', signal) : undefined;
      const html = out.links.html ? await fetchLinked(opts, out.links.html, out.filePath, 'html_url', signal) : undefined;
      const { markdown, references } = renderAgentTags(md ?? out.answer);
      if (!markdown.trim()) throw new ResearchError('truncated', 'The agent finished without an answer.', { requestId: out.requestId });
      yield { type: 'answer', delta: markdown };
      if (references.length) yield { type: 'references', references };
      const files: ReportFile[] = html ? [{ name: 'report.html', contentType: 'text/html', content: html }] : [];
      if (files.length || out.filePath) yield { type: 'files', files, filePath: out.filePath };
      yield { type: 'done', requestId: out.requestId, usage: out.usage, report: out.report };
    },
  };
}

type LinkKind = keyof typeof REPORT_MAX_BYTES;

/** Downloads a report link; a lapsed or refused link is re-minted once from `file_path`. Undefined if both fail. */
async function fetchLinked(opts: AgentOptions, url: string, filePath: string | undefined, kind: LinkKind, signal?: AbortSignal): Promise<string | undefined> {
  const first = await fetchReport(opts, url, kind, signal);
  if (first !== undefined || !filePath) return first;
  const minted = await postJson(opts, '/file/expose', { writing_result_path: filePath, writing_result_type: kind }, signal).catch(() => undefined);
  const results = ((minted?.output as { result?: { type?: string; text?: string }[] } | undefined)?.result ?? []).filter((r) => typeof r.text === 'string');
  return results[0]?.text ? fetchReport(opts, results[0].text, kind, signal) : undefined;
}

/** One report link, within the link policy, the size cap and the deadline; undefined (and logged) if not. */
async function fetchReport(opts: AgentOptions, link: string, kind: LinkKind, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const body = await boundedDownload(checkReportLink(link, opts.baseUrl), {
      what: `The report's ${kind === 'md_url' ? 'Markdown' : 'HTML'} file`,
      maxBytes: REPORT_MAX_BYTES[kind],
      timeoutMs: opts.downloadTimeoutMs ?? REPORT_DOWNLOAD_TIMEOUT_MS,
      signal,
      dispatcher: opts.dispatcher,
    });
    return body.toString('utf8');
  } catch (err) {
    if (signal?.aborted) throw new ResearchError('cancelled', 'The research was cancelled.', { cause: err });
    opts.log?.warn({ err: (err as Error).message, kind }, 'report link not used');
    return undefined;
  }
}

/**
 * The links the agent hands out are pre-signed OSS URLs (https, *.aliyuncs.com); anything else, such as a
 * link into the bot's own network, is refused. The DashScope origin itself is allowed too (tests' fake).
 * The message carries no query string: that is the link's signature.
 */
export function checkReportLink(link: string, baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    throw new Error('Report link refused: it is not a valid URL.');
  }
  const oss = url.protocol === 'https:' && (url.hostname === 'aliyuncs.com' || url.hostname.endsWith('.aliyuncs.com'));
  if (oss || url.origin === new URL(baseUrl).origin) return url;
  throw new Error(`Report link refused: ${url.protocol}//${url.host}${url.pathname} is neither https on aliyuncs.com nor on the DashScope origin.`);
}

interface AgentMessage {
  role?: string;
  content?: unknown;
  reasoning_content?: unknown;
  tool_calls?: { name?: string; arguments?: unknown; function?: { name?: string; arguments?: unknown } }[];
  extra?: { group?: string; step?: string; step_change?: string };
}

/**
 * Turns deep-search-agent frames (dashscope.md §3) into progress events, one frame at a time. `group`,
 * `step` and `step_change` may be missing: the last known step is kept, and tool calls and tool returns
 * are also recognised by their own fields.
 */
export class AgentMapper {
  private phase: ResearchPhase | undefined;
  private step = '';
  private round = 0;
  private queried = false;
  private toolCalls = 0;
  private readonly answer = new DeltaField();
  private readonly plan = new DeltaField();
  private readonly sitesSeen = new Set<string>();
  private readonly links: { md?: string; html?: string } = {};
  private filePath: string | undefined;
  private finished = false;
  private usage: Usage | undefined;
  private requestId: string | undefined;

  map(json: Record<string, unknown>): ResearchEvent[] {
    const events: ResearchEvent[] = [];
    if (typeof json.request_id === 'string') this.requestId = json.request_id;
    const output = json.output as { choices?: { message?: AgentMessage; finish_reason?: string }[]; usage?: unknown } | undefined;
    for (const choice of output?.choices ?? []) {
      if (choice.message) this.mapMessage(choice.message, events);
      if (choice.finish_reason === 'stop') this.finished = true;
    }
    const usage = (output?.usage ?? json.usage) as { input_tokens?: number; output_tokens?: number } | null | undefined;
    if (usage && typeof usage.output_tokens === 'number' && usage.output_tokens !== this.usage?.outputTokens) {
      this.usage = { inputTokens: Number(usage.input_tokens) || 0, outputTokens: usage.output_tokens };
      events.push({ type: 'usage', usage: this.usage });
    }
    if (events.length === 0) events.push({ type: 'keepalive' });
    return events;
  }

  /** What the finished stream produced; a stream without its final frame was cut short. */
  result() {
    if (!this.finished) throw new ResearchError('truncated', 'The agent stream ended before it finished.', { requestId: this.requestId });
    return {
      answer: this.answer.value,
      links: this.links,
      filePath: this.filePath,
      requestId: this.requestId,
      usage: this.usage,
      // A report, not a question: the agent searched, or produced report files.
      report: this.toolCalls > 0 || Boolean(this.links.md),
    };
  }

  private mapMessage(msg: AgentMessage, events: ResearchEvent[]): void {
    const extra = msg.extra ?? {};
    if (extra.step) this.step = extra.step;
    const toolCalls = msg.tool_calls ?? [];
    const isToolCall = toolCalls.length > 0 || this.step.startsWith('tool_calling') || extra.step_change === 'tool_call_start';
    const isToolReturn = msg.role === 'tool' || extra.step_change === 'tool_return';

    if (Array.isArray(msg.content)) this.mapFiles(msg.content as { type?: string; text?: string }[]);
    const content = typeof msg.content === 'string' ? msg.content : '';
    const text = content || (typeof msg.reasoning_content === 'string' ? msg.reasoning_content : '');

    if (isToolReturn) {
      this.setPhase('searching', events);
      const sites = this.newSites(msg.content);
      if (sites.length) events.push({ type: 'sites', round: Math.max(1, this.round), sites });
      if (this.round > 0) events.push({ type: 'round-end', round: this.round });
      return;
    }
    if (isToolCall) {
      this.setPhase('searching', events);
      if (extra.step_change === 'tool_call_start' || (toolCalls.length > 0 && this.queried) || this.round === 0) {
        this.round++;
        this.toolCalls++;
        this.queried = false;
        events.push({ type: 'round', round: this.round });
      }
      const query = toolCalls.map(queryOf).filter(Boolean).join('; ');
      if (query && !this.queried) {
        this.queried = true;
        events.push({ type: 'query', round: this.round, delta: query });
      }
      return;
    }
    const writing = extra.group === 'generating' || ['generating', 'reporting'].includes(this.step);
    if (writing) {
      this.setPhase('writing', events);
      // Held back until the end (see createAgentBackend); the report file usually replaces it.
      this.answer.push(text);
      return;
    }
    if (extra.group === 'planning' || ['planning', 'thinking'].includes(this.step)) this.setPhase('planning', events);
    if (this.phase === 'planning') {
      const delta = this.plan.push(text);
      if (delta) events.push({ type: 'plan', delta });
    } else if (text) {
      // Text outside any known step: a reply such as a clarifying question.
      this.answer.push(text);
    }
  }

  private setPhase(phase: ResearchPhase, events: ResearchEvent[]): void {
    if (this.phase === phase) return;
    this.phase = phase;
    events.push({ type: 'phase', phase });
  }

  private mapFiles(items: { type?: string; text?: string }[]): void {
    for (const item of items) {
      if (item?.type === 'file_path') this.filePath = item.text;
      else if (item?.type === 'md_file_url') this.links.md = item.text;
      else if (item?.type === 'html_file_url') this.links.html = item.text;
      else if (item?.type === 'text' && typeof item.text === 'string') this.answer.push(item.text);
    }
  }

  /** Web results in a tool return: any objects with a URL, wherever they sit in the structure. */
  private newSites(content: unknown): WebSite[] {
    let value = content;
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch {
        return [];
      }
    }
    const sites: WebSite[] = [];
    const walk = (v: unknown, depth: number) => {
      if (!v || typeof v !== 'object' || depth > 5) return;
      if (Array.isArray(v)) return v.forEach((x) => walk(x, depth + 1));
      const o = v as Record<string, unknown>;
      const url = o.url ?? o.link;
      if (typeof url === 'string' && /^https?:/.test(url)) {
        if (!this.sitesSeen.has(url)) {
          this.sitesSeen.add(url);
          sites.push({ url, title: String(o.title ?? ''), description: String(o.snippet ?? o.description ?? '') });
        }
        return;
      }
      for (const x of Object.values(o)) walk(x, depth + 1);
    };
    walk(value, 0);
    return sites;
  }
}

function queryOf(call: NonNullable<AgentMessage['tool_calls']>[number]): string {
  const raw = call.arguments ?? call.function?.arguments;
  let args: unknown = raw;
  if (typeof raw === 'string') {
    try {
      args = JSON.parse(raw);
    } catch {
      return '';
    }
  }
  const a = (args ?? {}) as { query?: unknown; queries?: unknown; keyword?: unknown; q?: unknown };
  const q = a.query ?? a.queries ?? a.keyword ?? a.q;
  return Array.isArray(q) ? q.filter((x) => typeof x === 'string').join('; ') : typeof q === 'string' ? q : '';
}
