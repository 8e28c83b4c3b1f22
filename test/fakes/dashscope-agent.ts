/**
 * The deep-search-agent app API of the fake DashScope (dashscope.md §3): the chat stream with steps, tool
 * calls and returns, report file links that expire, /file/expose to mint new ones, and the session-file
 * upload flow (lease → PUT → parse → status).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResearchScript } from './dashscope-script.js';

export const AGENT_BASE = '/api/v2/apps/deep-search-agent';
export const AGENT_REQUEST_ID = '5b853312-2f8a-4c55-9d0c-agent0000001';

type Frame = Record<string, unknown>;

/** The report the agent writes, with its inline tags. */
export function agentReport(): string {
  return [
    '# Solid-state batteries in 2026',
    '',
    'Sulfide electrolytes lead the field <qwen:cite url="https://example.org/source-1">according to recent reviews</qwen:cite>.',
    '',
    '<qwen:takeaway>Mass production is expected after 2027.</qwen:takeaway>',
    '',
    '## Costs',
    '',
    'Costs fall as yields rise <qwen:cite url="https://example.org/source-2">industry data</qwen:cite>, and again <qwen:cite url="https://example.org/source-1">the review</qwen:cite>.',
    '',
    '## Conclusion',
    '',
    'The technology is close to market.',
  ].join('\n');
}

function chunks(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function frame(message: Record<string, unknown>, finish = '', usage: unknown = null): Frame {
  return { code: '200', message: '', output: { choices: [{ finish_reason: finish, message: { role: 'assistant', content: '', ...message } }] }, usage, request_id: AGENT_REQUEST_ID };
}

/** Step 1 when the agent wants to know more: some thinking, then a question, no files. */
export function agentQuestionFrames(question: string): Frame[] {
  return [
    frame({ reasoning_content: 'The topic is broad; ', extra: { group: 'planning', step: 'thinking', step_change: 'think_start' } }),
    frame({ reasoning_content: 'ask about the focus.', extra: { group: 'planning', step: 'thinking' } }),
    ...chunks(question, 15).map((c) => frame({ content: c, extra: { group: 'generating', step: 'generating' } })),
    frame({}, 'stop', { input_tokens: 120, output_tokens: 40, total_tokens: 160 }),
  ];
}

/** A research run: planning, search rounds (tool call + tool return), frames without extra, writing, then the file links. */
export function agentResearchFrames(script: ResearchScript, report: string, links: { filePath: string; md: string; html: string }): Frame[] {
  const frames: Frame[] = [
    frame({ reasoning_content: 'Plan: look at materials, costs and timelines.', extra: { group: 'planning', step: 'planning', step_change: 'plan_start' } }),
    frame({ extra: { group: 'planning', step: 'planning', step_change: 'plan_end' } }),
  ];
  for (let id = 1; id <= script.rounds; id++) {
    frames.push(
      frame({ extra: { group: 'planning', step: 'tool_calling_web_search', step_change: 'tool_call_start' }, tool_calls: [{ name: 'web_search', arguments: JSON.stringify({ query: `agent query ${id}` }) }] }),
      // An empty packet: the doc warns step fields may be missing.
      frame({}),
      frame({
        role: 'tool',
        extra: { group: 'planning', step: 'tool_calling_web_search', step_change: 'tool_return' },
        // The last search finds the pages the report cites, as a real research does.
        content: JSON.stringify({
          results:
            id === script.rounds
              ? script.references.slice(0, script.sitesPerRound).map((r) => ({ title: r.title, url: r.url, snippet: 'snippet' }))
              : Array.from({ length: script.sitesPerRound }, (_, i) => ({ title: `Result ${i + 1} of ${id}`, url: `https://agent-${id}-${i + 1}.example.com/`, snippet: 'snippet' })),
        }),
      }),
    );
  }
  frames.push(frame({ extra: { group: 'generating', step: 'generating', step_change: 'generation_start' } }));
  for (const c of chunks(report, script.chunk)) frames.push(frame({ content: c, extra: { group: 'generating', step: 'generating' } }));
  frames.push(
    frame(
      {
        content: [
          { type: 'file_path', text: links.filePath },
          { type: 'md_file_url', text: links.md },
          { type: 'html_file_url', text: links.html },
        ],
        response_metadata: { model_name: 'deep-research-generation', agent_name: 'writing_agent' },
      },
      'stop',
      { input_tokens: 900, output_tokens: 2400, total_tokens: 3300 },
    ),
  );
  return frames;
}

interface Upload {
  name: string;
  size: number;
  data?: Buffer;
  fileId?: string;
  polls: number;
}

/** Report files, links and uploads kept by the fake. */
export class AgentFiles {
  /** Links handed out, by token; `expired` ones answer 403 as OSS does. */
  readonly links = new Map<string, { path: string; kind: 'md' | 'html'; expired: boolean }>();
  readonly reports = new Map<string, { md: string; html: string }>();
  readonly uploads = new Map<string, Upload>();
  downloads = 0;
  mints = 0;
  /** Answers downloads of this kind of link (fresh and re-minted) instead of the stored report. */
  readonly serveAs = new Map<'md' | 'html', (res: ServerResponse) => void>();
  /** The link /file/expose hands out instead of a fresh one on this server. */
  mintedUrl: ((kind: 'md' | 'html') => string) | undefined;
  private seq = 0;

  constructor(private readonly baseUrl: () => string) {}

  /** Stores a report and returns its file path and fresh links. */
  publish(md: string): { filePath: string; md: string; html: string } {
    const filePath = `msearch/agents/files/upload/${++this.seq}-report`;
    this.reports.set(filePath, { md, html: `<!doctype html><html><body><pre>${md.replace(/</g, '&lt;')}</pre></body></html>` });
    return { filePath, md: this.link(filePath, 'md'), html: this.link(filePath, 'html') };
  }

  /** Every link handed out so far stops working (the 15 minutes are over). */
  expireAll(): void {
    for (const l of this.links.values()) l.expired = true;
  }

  link(path: string, kind: 'md' | 'html'): string {
    const token = `t${++this.seq}`;
    this.links.set(token, { path, kind, expired: false });
    return `${this.baseUrl()}/oss/${token}.${kind}?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20261121T000000Z&x-oss-expires=900`;
  }

  /** GET /oss/…, PUT /upload/…: the object storage side, no DashScope key. True when handled. */
  serveStorage(req: IncomingMessage, res: ServerResponse, raw: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    const oss = /^\/oss\/(t\d+)\.(md|html)$/.exec(url.pathname);
    if (req.method === 'GET' && oss) {
      const link = this.links.get(oss[1]!);
      const report = link && this.reports.get(link.path);
      if (!link || !report || link.expired) {
        res.writeHead(403, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>');
      } else {
        this.downloads++;
        const serve = this.serveAs.get(link.kind);
        if (serve) serve(res);
        else res.writeHead(200, { 'content-type': link.kind === 'md' ? 'text/markdown' : 'text/html' }).end(report[link.kind]);
      }
      return true;
    }
    const up = /^\/upload\/(lease-\d+)$/.exec(url.pathname);
    if (req.method === 'PUT' && up) {
      const upload = this.uploads.get(up[1]!);
      if (!upload || req.headers['x-bailian-extra'] !== 'fake-extra') res.writeHead(403).end('signature mismatch');
      else {
        upload.data = raw;
        res.writeHead(200).end();
      }
      return true;
    }
    return false;
  }

  /** The JSON endpoints under /api/v2/apps/deep-search-agent/file/. */
  fileApi(path: string, input: Record<string, unknown>): { status: number; body: Record<string, unknown> } {
    const ok = (result: unknown) => ({ status: 200, body: { code: '200', message: '', output: { result }, request_id: AGENT_REQUEST_ID } });
    const bad = (message: string) => ({ status: 400, body: { code: 'InvalidParameter', message, request_id: AGENT_REQUEST_ID } });
    switch (path) {
      case '/file/expose': {
        const filePath = String(input.writing_result_path ?? '');
        if (!this.reports.has(filePath)) return bad('writing_result_path not found');
        this.mints++;
        const kind = input.writing_result_type === 'html_url' ? 'html' : 'md';
        return ok([{ type: `${kind}_file_url`, text: this.mintedUrl?.(kind) ?? this.link(filePath, kind) }]);
      }
      case '/file/lease/apply': {
        if (!input.file_name || !input.file_md5 || typeof input.file_size !== 'number') return bad('file_name, file_md5 and file_size are required');
        const lease = `lease-${++this.seq}`;
        this.uploads.set(lease, { name: String(input.file_name), size: input.file_size, polls: 0 });
        return ok({ lease_id: lease, pre_signed_url: `${this.baseUrl()}/upload/${lease}`, headers: { 'Content-Type': 'application/octet-stream', 'x-bailian-extra': 'fake-extra' } });
      }
      case '/file/parse/submit': {
        const upload = this.uploads.get(String(input.lease_id));
        if (!upload?.data || upload.data.length !== upload.size) return bad('file was not uploaded');
        upload.fileId = `file_session_${++this.seq}`;
        return ok({ file_id: upload.fileId });
      }
      case '/file/parse/status': {
        const ids = (input.file_ids ?? []) as string[];
        const list = ids.map((id) => {
          const upload = [...this.uploads.values()].find((u) => u.fileId === id);
          if (!upload) return { file_id: id, status: 'FILE_EXPIRED' };
          upload.polls++;
          const status = /corrupt/i.test(upload.name) ? 'PARSE_FAILED' : upload.polls < 2 ? 'PARSING' : 'FILE_IS_READY';
          return { file_id: id, status };
        });
        return ok(list);
      }
    }
    return { status: 404, body: { code: 'NotFound', message: `No route for ${path}`, request_id: AGENT_REQUEST_ID } };
  }

  /** Session file ids that are ready. */
  ready(ids: unknown): boolean {
    return Array.isArray(ids) && ids.every((id) => [...this.uploads.values()].some((u) => u.fileId === id && u.polls >= 2));
  }
}

/** Agent frames on the wire: `data: ` lines only, a blank line between frames. */
export function agentSse(data: Frame): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

/**
 * Answers with `total` bytes made of one repeated chunk, so gigabytes never sit in memory; waits for the
 * client to drain and stops when it goes away. `delayMs` between chunks makes a trickle.
 */
export async function streamRepeated(res: ServerResponse, opts: { total: number; chunk?: Buffer; contentLength?: boolean; delayMs?: number }): Promise<void> {
  const chunk = opts.chunk ?? Buffer.alloc(64 * 1024, 'a');
  res.writeHead(200, { 'content-type': 'application/octet-stream', ...(opts.contentLength ? { 'content-length': String(opts.total) } : {}) });
  let gone = false;
  res.on('close', () => (gone = true));
  for (let sent = 0; sent < opts.total && !gone; ) {
    const part = chunk.subarray(0, Math.min(chunk.length, opts.total - sent));
    sent += part.length;
    if (!res.write(part)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done).off('close', done);
          resolve();
        };
        res.on('drain', done).on('close', done);
      });
    }
    if (opts.delayMs) await new Promise((resolve) => setTimeout(resolve, opts.delayMs));
  }
  if (!gone) res.end();
}
