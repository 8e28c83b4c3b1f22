import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReportPage, ReportPages } from '../../core/ports/pages.js';
import type { ThreadStore } from '../../core/ports/store.js';
import { renderPage } from './page-html.js';

/** Nothing on a report page may run, load a script or be framed; only images (favicons) over https. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; img-src https:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Report pages at `${PUBLIC_URL}/reports/<id>`: the id is 128 random bits (base64url), the page is rendered once
 * when published and kept in the store, optionally until it expires (REPORT_PAGE_TTL_DAYS).
 */
export class WebPages implements ReportPages {
  constructor(
    private readonly store: Pick<ThreadStore, 'savePage' | 'getPage'>,
    private readonly publicUrl: string,
    private readonly ttlDays?: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async publish(page: ReportPage): Promise<string> {
    const id = randomBytes(16).toString('base64url');
    const now = this.clock();
    await this.store.savePage(id, renderPage(page), now, this.ttlDays ? now + this.ttlDays * 86_400_000 : undefined);
    return `${this.publicUrl.replace(/\/+$/, '')}/reports/${id}`;
  }

  /** GET /reports/<id>: the page, or 404 for an id that is unknown, malformed or expired. */
  handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const id = /^\/reports\/([A-Za-z0-9_-]{22})$/.exec((req.url ?? '').split('?')[0]!)?.[1];
    const html = id ? await this.store.getPage(id, this.clock()) : undefined;
    if (!html) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end('No such report page (it may have expired).\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'private, max-age=300', ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : html);
  };
}
