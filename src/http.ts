import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseForm } from 'node:querystring';
import { silentLogger, type Logger } from './core/ports/logger.js';
import { isObject, readBodyWithin, reply } from './common/http-body.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpRoutes {
  /** POST /slack/events (Slack HTTP mode): Bolt's request listener. */
  slack?: Handler;
  /** POST /feishu/events (Feishu webhook mode: events and card callbacks). */
  feishu?: Handler;
  /** GET /reports/<id>: report pages (PUBLIC_URL). */
  reports?: Handler;
  /** Ready when the store can be written and every enabled platform is connected; otherwise why not. */
  ready: () => Promise<{ ready: boolean; reason?: string }>;
  /** GET /metrics: Prometheus text format. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

/**
 * Slack's largest payloads, interactivity carrying a whole message (50 blocks, 40,000 characters, form-encoded
 * so one CJK character takes 9 bytes), stay under 1 MB; 2 MB leaves room while bounding memory per request.
 */
export const SLACK_MAX_BODY_BYTES = 2 * 1024 * 1024;

/** Webhook senders answer within seconds; a client slower than this only holds a socket. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

interface Route {
  methods: string[];
  handle: Handler;
}

/**
 * The one HTTP server on PORT: /healthz, /metrics and the webhook endpoints. Whatever arrives, the process
 * stays up: wrong methods get 405, unknown paths 404, malformed HTTP 400, and an error in a handler is logged
 * (method, path and error, never the body) and answered 500.
 */
export function createHttpServer(routes: HttpRoutes, opts: { logger?: Logger } = {}): Server {
  const log = opts.logger ?? silentLogger;
  const table = new Map<string, Route>([['/healthz', { methods: ['GET', 'HEAD'], handle: (_req, res) => healthz(routes, res) }]]);
  const { metrics, slack, feishu } = routes;
  if (metrics) table.set('/metrics', { methods: ['GET', 'HEAD'], handle: (_req, res) => sendMetrics(metrics, res) });
  if (slack) table.set('/slack/events', { methods: ['POST'], handle: (req, res) => slackEvents(slack, req, res) });
  if (feishu) table.set('/feishu/events', { methods: ['POST'], handle: feishu });
  if (routes.reports) table.set('/reports/', { methods: ['GET', 'HEAD'], handle: routes.reports });

  // The timeouts are checked every connectionsCheckingInterval, so that they hold to within 2 s.
  const server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 2_000 },
    (req, res) => {
      const method = req.method ?? '';
      const path = (req.url ?? '/').split('?')[0]!;
      const fail = (err: unknown) => {
        // A client that hangs up mid-request is not a failure of ours.
        if ((err as { code?: string } | undefined)?.code === 'ECONNRESET') log.debug({ method, path }, 'client closed the connection');
        else log.error({ method, path, error: describe(err) }, 'HTTP request failed');
        if (!res.headersSent) reply(res, 500, { error: 'internal error' });
        else res.destroy();
      };
      res.on('error', fail);
      const route = table.get(path) ?? (path.startsWith('/reports/') ? table.get('/reports/') : undefined);
      if (!route) return reply(res, 404, { error: 'not found' });
      if (!route.methods.includes(method)) return reply(res, 405, { error: `use ${route.methods.join(' or ')}` }, { allow: route.methods.join(', ') });
      try {
        const done = route.handle(req, res);
        if (done instanceof Promise) done.catch(fail);
      } catch (err) {
        fail(err);
      }
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    log.debug({ error: describe(err) }, 'malformed HTTP request');
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
  });
  return server;
}

async function healthz(routes: HttpRoutes, res: ServerResponse): Promise<void> {
  const health = await routes.ready().catch(() => ({ ready: false, reason: 'health check failed' }));
  reply(res, health.ready ? 200 : 503, health);
}

async function sendMetrics(metrics: NonNullable<HttpRoutes['metrics']>, res: ServerResponse): Promise<void> {
  const m = await metrics();
  res.writeHead(200, { 'content-type': m.contentType }).end(m.body);
}

/**
 * Reads the body within the cap, refuses what Slack never sends (anything but a JSON object, or a form whose
 * `payload` is one, parsed as Bolt parses it) and hands the rest to Bolt, which verifies the signature.
 */
async function slackEvents(bolt: Handler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = await readBodyWithin(req, res, SLACK_MAX_BODY_BYTES);
  if (!raw) return;
  if (!isSlackPayload(raw, req.headers['content-type'])) return reply(res, 400, { error: 'body is not a Slack payload' });
  // Bolt takes a request that carries `rawBody` as already read (HTTPModuleFunctions.bufferIncomingMessage).
  Object.assign(req, { rawBody: raw });
  await bolt(req, res);
}

function isSlackPayload(raw: Buffer, contentType: string | undefined): boolean {
  try {
    const text = raw.toString();
    if (!contentType?.startsWith('application/x-www-form-urlencoded')) return isObject(JSON.parse(text));
    const form = parseForm(text);
    return typeof form.payload === 'string' ? isObject(JSON.parse(form.payload)) : true;
  } catch {
    return false;
  }
}

/** What may be logged of an error: never the request, which may hold personal data or secrets. */
function describe(err: unknown): { name?: string; code?: string; message: string } {
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  return { name: e?.name, code: e?.code, message: String(e?.message ?? err).slice(0, 200) };
}

export function listen(server: Server, port: number, host = '0.0.0.0'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}
