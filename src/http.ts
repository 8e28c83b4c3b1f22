import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpRoutes {
  /** POST /slack/events (Slack HTTP mode). */
  slack?: Handler;
  /** POST /feishu/events (Feishu webhook mode: events and card callbacks). */
  feishu?: Handler;
  /** True when the store and every enabled platform are connected. */
  ready: () => Promise<boolean>;
  /** GET /metrics: Prometheus text format. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

/** The one HTTP server on PORT: /healthz, /metrics and the webhook endpoints. */
export function createHttpServer(routes: HttpRoutes): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      void routes.ready().then(
        (ok) => res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: ok })),
        () => res.writeHead(503).end('{"ready":false}'),
      );
      return;
    }
    if (req.method === 'GET' && path === '/metrics' && routes.metrics) {
      void routes.metrics().then(
        (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.body),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (path === '/slack/events' && routes.slack) return routes.slack(req, res);
    if (path === '/feishu/events' && routes.feishu) return routes.feishu(req, res);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
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
