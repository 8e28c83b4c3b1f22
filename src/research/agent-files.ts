import { createHash } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { dashScopeError, toResearchError } from './errors.js';
import { ResearchError, type AttachedFile } from '../core/ports/research.js';

export const AGENT_APP_PATH = '/api/v2/apps/deep-search-agent';
/** The agent takes at most 10 session files (dashscope.md §3). */
export const MAX_SESSION_FILES = 10;
/** Our own cap per file, so a person learns at once instead of after a long upload. */
export const MAX_SESSION_FILE_BYTES = 100 * 1024 * 1024;
const READY = 'FILE_IS_READY';
const FAILED = new Set(['PARSE_FAILED', 'SAFE_CHECK_FAILED', 'INDEX_BUILDING_FAILED', 'INDEX_DELETED', 'FILE_EXPIRED']);

export interface AgentHttp {
  baseUrl: string;
  apiKey: string;
  dispatcher?: Dispatcher;
  timeoutMs: number;
}

/** POSTs JSON to one of the agent's plain (non-streaming) endpoints; errors become ResearchErrors. */
export async function postJson(http: AgentHttp, path: string, input: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
  try {
    const res = await request(new URL(`${AGENT_APP_PATH}${path}`, http.baseUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${http.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input, parameters: {} }),
      signal,
      headersTimeout: http.timeoutMs,
      bodyTimeout: http.timeoutMs,
      dispatcher: http.dispatcher,
    });
    const text = await res.body.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    const code = json?.code;
    if (res.statusCode >= 300 || (typeof code === 'string' && code !== '' && code !== '200')) {
      throw dashScopeError(res.statusCode, json, `DashScope answered HTTP ${res.statusCode} on ${path}.`);
    }
    return json ?? {};
  } catch (err) {
    throw toResearchError(err, signal);
  }
}

function result(json: Record<string, unknown>): Record<string, unknown> {
  const output = (json.output ?? {}) as Record<string, unknown>;
  return (output.result ?? output) as Record<string, unknown>;
}

/**
 * Uploads attached files as the agent's session files: lease → PUT to the pre-signed URL → parse → poll until
 * every file is FILE_IS_READY. Returns the file ids for `agent_options.session_files`.
 */
export async function uploadSessionFiles(http: AgentHttp, files: AttachedFile[], signal?: AbortSignal, pollMs = 1000, maxWaitMs = 1_800_000): Promise<string[]> {
  if (files.length > MAX_SESSION_FILES) {
    throw new ResearchError('file_rejected', `At most ${MAX_SESSION_FILES} files can be attached; this request has ${files.length}.`);
  }
  for (const f of files) {
    if (f.data.length === 0) throw new ResearchError('file_rejected', `${f.name} is empty.`);
    if (f.data.length > MAX_SESSION_FILE_BYTES) {
      throw new ResearchError('file_rejected', `${f.name} is larger than ${MAX_SESSION_FILE_BYTES / 1024 / 1024} MB.`);
    }
  }
  const ids: string[] = [];
  const names = new Map<string, string>();
  for (const f of files) {
    const lease = result(
      await postJson(http, '/file/lease/apply', { file_name: f.name, file_md5: createHash('md5').update(f.data).digest('hex'), file_size: f.data.length }, signal),
    );
    const url = String(lease.pre_signed_url ?? '');
    if (!lease.lease_id || !url) throw new ResearchError('unavailable', 'DashScope gave no upload lease.');
    const put = await request(url, {
      method: 'PUT',
      headers: (lease.headers ?? {}) as Record<string, string>,
      body: f.data,
      signal,
      headersTimeout: http.timeoutMs,
      bodyTimeout: http.timeoutMs,
      dispatcher: http.dispatcher,
    }).catch((err: unknown) => {
      throw toResearchError(err, signal);
    });
    await put.body.dump();
    if (put.statusCode >= 300) throw new ResearchError('unavailable', `Uploading ${f.name} failed with HTTP ${put.statusCode}.`, { status: put.statusCode });
    const submitted = result(await postJson(http, '/file/parse/submit', { lease_id: lease.lease_id }, signal));
    const id = String(submitted.file_id ?? '');
    if (!id) throw new ResearchError('unavailable', `DashScope did not accept ${f.name} for parsing.`);
    ids.push(id);
    names.set(id, f.name);
  }
  await waitUntilReady(http, ids, names, signal, pollMs, maxWaitMs);
  return ids;
}

/** Polls the parse status: first after `pollMs`, then less often, up to every 10 s (the official sample's pace). */
async function waitUntilReady(http: AgentHttp, ids: string[], names: Map<string, string>, signal: AbortSignal | undefined, pollMs: number, maxWaitMs: number): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  for (let wait = pollMs; ; wait = Math.min(wait * 2, Math.max(pollMs, 10_000))) {
    const status = await postJson(http, '/file/parse/status', { file_ids: ids }, signal);
    const states = fileStates(status);
    for (const id of ids) {
      const state = states.get(id);
      if (state && FAILED.has(state)) throw new ResearchError('file_rejected', `DashScope could not read ${names.get(id)} (${state}).`, { upstreamCode: state });
    }
    if (ids.every((id) => states.get(id) === READY)) return;
    if (Date.now() > deadline) throw new ResearchError('timeout', 'The attached files took too long to be read.');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, wait);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new ResearchError('cancelled', 'The research was cancelled.'));
      }, { once: true });
    });
  }
}

/** file id → state, from whichever list the status answer holds. */
function fileStates(json: Record<string, unknown>): Map<string, string> {
  const out = new Map<string, string>();
  const r = result(json);
  const list = Array.isArray(r) ? r : Array.isArray(r.files) ? r.files : Array.isArray(r.file_list) ? r.file_list : [r];
  for (const item of list as Record<string, unknown>[]) {
    const id = item?.file_id;
    const state = item?.status ?? item?.file_status;
    if (typeof id === 'string' && typeof state === 'string') out.set(id, state);
  }
  return out;
}
