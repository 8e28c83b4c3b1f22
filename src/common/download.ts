/**
 * Bounded HTTP GETs of files the bot did not produce: attachments people send, report links the agent returns.
 * One deadline covers headers and body (a trickling server cannot hold a slot), bytes are counted as they
 * arrive and the transfer stops at the cap, and redirects are never followed: undici's `request` only follows
 * them through a redirect interceptor, which is never installed here. Messages name the file, never the URL
 * (signed query strings), so they can be shown to people and logged.
 */
import { request, type Dispatcher } from 'undici';

export type DownloadFailure = 'too_large' | 'timeout' | 'redirect' | 'status' | 'network' | 'cancelled';

export class DownloadError extends Error {
  constructor(
    readonly reason: DownloadFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DownloadError';
  }
}

export interface DownloadOptions {
  /** The file as people know it (a file name, "the report"), for messages. */
  what: string;
  maxBytes: number;
  /** Overall deadline: connecting, headers and the whole body. */
  timeoutMs: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
}

/** GETs `url` into memory, holding at most `maxBytes` of body (plus the chunk that crossed it). */
export async function boundedDownload(url: URL | string, opts: DownloadOptions): Promise<Buffer> {
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, opts.timeoutMs);
  const cancel = () => abort.abort();
  opts.signal?.addEventListener('abort', cancel, { once: true });
  if (opts.signal?.aborted) abort.abort();
  try {
    const res = await request(url, {
      method: 'GET',
      headers: opts.headers,
      signal: abort.signal,
      dispatcher: opts.dispatcher,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    try {
      refuseEarly(res.statusCode, res.headers['content-length'], opts);
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > opts.maxBytes) throw new DownloadError('too_large', `${opts.what} is larger than ${formatBytes(opts.maxBytes)}, the limit.`);
        chunks.push(chunk);
      }
      return Buffer.concat(chunks, total);
    } finally {
      // Closes the connection when the body was not read to its end; the abort error that raises is expected.
      res.body.on('error', () => {}).destroy();
    }
  } catch (err) {
    if (err instanceof DownloadError) throw err;
    if (opts.signal?.aborted) throw new DownloadError('cancelled', `${opts.what} was not downloaded: the request was cancelled.`, { cause: err });
    if (timedOut) throw new DownloadError('timeout', `${opts.what} took longer than ${Math.ceil(opts.timeoutMs / 1000)} s to download.`, { cause: err });
    throw new DownloadError('network', `${opts.what} could not be downloaded: the connection failed.`, { cause: err });
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', cancel);
  }
}

/** Status and declared length, checked before a byte of the body is read. */
function refuseEarly(status: number, contentLength: string | string[] | undefined, opts: DownloadOptions): void {
  if (status >= 300 && status < 400) {
    throw new DownloadError('redirect', `${opts.what} could not be downloaded: the server sent a redirect, which the bot does not follow.`);
  }
  if (status !== 200) throw new DownloadError('status', `${opts.what} could not be downloaded (HTTP ${status}).`);
  const declared = Number(contentLength);
  if (Number.isFinite(declared) && declared > opts.maxBytes) {
    throw new DownloadError('too_large', `${opts.what} is ${formatBytes(declared)}, more than the limit of ${formatBytes(opts.maxBytes)}.`);
  }
}

/** 104857600 → "100 MB" (binary units, as file managers show them). */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : Number(n.toFixed(n < 10 ? 1 : 0))} ${units[i]}`;
}
