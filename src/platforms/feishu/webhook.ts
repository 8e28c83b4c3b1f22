import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as lark from '@larksuiteoapi/node-sdk';
import { isObject, readBodyWithin, reply } from '../../common/http-body.js';

/** Feishu's events and card callbacks are a few KB; cards the bot sends stay under 30 KB. */
export const MAX_BODY_BYTES = 1 << 20;
/** As Slack's: a request stamped further from this server's clock is refused, so a captured one cannot be replayed. */
export const MAX_CLOCK_SKEW_SECONDS = 5 * 60;

export interface WebhookSecrets {
  encryptKey?: string;
  /** Token-only mode (FEISHU_ALLOW_TOKEN_ONLY), used only when there is no encrypt key. */
  verificationToken?: string;
}

/**
 * POST /feishu/events: events and card callbacks into the SDK's EventDispatcher, with URL verification
 * (the challenge), decryption and checks. Every event must carry an `x-lark-request-timestamp` within 5 minutes
 * of this server's clock, and, with an encrypt key, a valid `x-lark-signature`; in token-only mode the
 * verification token in the body must match instead. Refusals get 4xx, not the silent 200 of the SDK's own
 * adaptor. The dispatcher's handlers only enqueue, so the answer is immediate.
 */
export function webhookHandler(dispatcher: lark.EventDispatcher, secrets: WebhookSecrets, now: () => number = Date.now) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') return reply(res, 405, { error: 'use POST' }, { allow: 'POST' });
    const raw = await readBodyWithin(req, res, MAX_BODY_BYTES);
    if (!raw) return;
    const body = parseObject(raw);
    if (!body) return reply(res, 400, { error: 'body is not a JSON object' });
    let challenge;
    try {
      challenge = lark.generateChallenge(body, { encryptKey: secrets.encryptKey ?? '' });
    } catch {
      return reply(res, 400, { error: 'cannot decrypt: check FEISHU_ENCRYPT_KEY' });
    }
    if (challenge.isChallenge) {
      // Feishu sends the URL check unsigned when the admin saves the URL, so it is answered without a timestamp;
      // it must still prove itself: encrypted with the key, or carrying the token in token-only mode.
      if (secrets.encryptKey && !('encrypt' in body)) {
        return reply(res, 401, { error: 'the URL check was not encrypted: set the Encrypt Key under Events & Callbacks → Encryption Strategy to FEISHU_ENCRYPT_KEY' });
      }
      if (!secrets.encryptKey && !tokenMatches(body, secrets.verificationToken)) return reply(res, 401, { error: 'verification failed' });
      return reply(res, 200, challenge.challenge);
    }
    if (!fresh(req.headers['x-lark-request-timestamp'], now())) {
      return reply(res, 401, { error: `x-lark-request-timestamp is missing or more than ${MAX_CLOCK_SKEW_SECONDS / 60} minutes off this server's clock` });
    }
    if (!verified(raw, body, req.headers, secrets)) return reply(res, 401, { error: 'verification failed' });
    const value = await dispatcher.invoke(body, { needCheck: false });
    reply(res, 200, value ?? {});
  };
}

function parseObject(raw: Buffer): Record<string, unknown> | undefined {
  try {
    const body: unknown = JSON.parse(raw.toString('utf8'));
    return isObject(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

function fresh(header: string | string[] | undefined, nowMs: number): boolean {
  if (typeof header !== 'string' || !/^\d{1,12}$/.test(header)) return false;
  return Math.abs(nowMs / 1000 - Number(header)) <= MAX_CLOCK_SKEW_SECONDS;
}

function verified(raw: Buffer, body: Record<string, unknown>, headers: IncomingMessage['headers'], secrets: WebhookSecrets): boolean {
  if (secrets.encryptKey) {
    const signature = String(headers['x-lark-signature'] ?? '');
    if (!/^[0-9a-f]{64}$/i.test(signature)) return false;
    const given = Buffer.from(signature, 'hex');
    const prefix = `${String(headers['x-lark-request-timestamp'])}${String(headers['x-lark-request-nonce'] ?? '')}${secrets.encryptKey}`;
    // Feishu signs the raw bytes; the SDK checks (and its users sign) the re-serialised body (feishu.md §7).
    return [raw, Buffer.from(JSON.stringify(body))].some((signed) => timingSafeEqual(given, createHash('sha256').update(prefix).update(signed).digest()));
  }
  return tokenMatches(body, secrets.verificationToken);
}

function tokenMatches(body: Record<string, unknown>, expected: string | undefined): boolean {
  if (!expected) return false;
  const header = isObject(body.header) ? body.header : {};
  const token = header.token ?? body.token;
  if (typeof token !== 'string') return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(token), digest(expected));
}
