import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as lark from '@larksuiteoapi/node-sdk';

const MAX_BODY_BYTES = 1 << 20;

export interface WebhookSecrets {
  encryptKey?: string;
  verificationToken?: string;
}

/**
 * POST /feishu/events: events and card callbacks into the SDK's EventDispatcher, with URL verification
 * (the challenge), decryption and checks. With an encrypt key every request must carry a valid
 * `x-lark-signature`; without one, the verification token in the body must match. Refusals get 401, not the
 * silent 200 of the SDK's own adaptor. The dispatcher's handlers only enqueue, so the answer is immediate.
 */
export function webhookHandler(dispatcher: lark.EventDispatcher, secrets: WebhookSecrets) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    void readBody(req).then(async (raw) => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return reply(res, 400, { error: 'body is not JSON' });
      }
      const data = Object.assign(Object.create({ headers: req.headers }) as object, body);
      let challenge;
      try {
        challenge = lark.generateChallenge(data, { encryptKey: secrets.encryptKey ?? '' });
      } catch {
        return reply(res, 400, { error: 'cannot decrypt: check FEISHU_ENCRYPT_KEY' });
      }
      if (challenge.isChallenge) return reply(res, 200, challenge.challenge);
      if (!verified(body, req.headers, secrets)) return reply(res, 401, { error: 'verification failed' });
      const value = await dispatcher.invoke(data);
      reply(res, 200, value ?? {});
    }, () => reply(res, 413, { error: 'body too large' }));
  };
}

function verified(body: Record<string, unknown>, headers: IncomingMessage['headers'], secrets: WebhookSecrets): boolean {
  if (secrets.encryptKey) {
    const ts = String(headers['x-lark-request-timestamp'] ?? '');
    const nonce = String(headers['x-lark-request-nonce'] ?? '');
    const expected = createHash('sha256').update(ts + nonce + secrets.encryptKey + JSON.stringify(body)).digest();
    const given = Buffer.from(String(headers['x-lark-signature'] ?? ''), 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
  if (secrets.verificationToken) {
    const token = (body.header as { token?: string } | undefined)?.token ?? body.token;
    return token === secrets.verificationToken;
  }
  return false;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('too large'));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
