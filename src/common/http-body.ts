import type { IncomingMessage, ServerResponse } from 'node:http';

/** Request bodies and JSON answers for the webhook endpoints, shared by the HTTP server and the platforms. */

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

/**
 * The request body, at most `limit` bytes: a larger Content-Length is refused before reading, and a stream
 * that passes the limit is refused at once. The rest is read and dropped rather than the connection reset, so
 * the client receives the answer (the server's request timeout bounds how long that may take).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > limit) {
      req.resume();
      return reject(new BodyTooLarge(limit));
    }
    let chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > limit) return;
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      chunks = [];
      reject(new BodyTooLarge(limit));
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** The body within `limit`, or undefined once a 413 has been answered for a larger one. */
export async function readBodyWithin(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer | undefined> {
  try {
    return await readBody(req, limit);
  } catch (err) {
    if (!(err instanceof BodyTooLarge)) throw err;
    reply(res, 413, { error: `body larger than ${limit} bytes` });
    return undefined;
  }
}
