import { Marked, type Tokens } from 'marked';
import { isHttpUrl } from '../../common/markdown.js';
import { strings } from '../../core/i18n.js';
import type { ReportPage } from '../../core/ports/pages.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML content and attribute values: nothing from the model or the web can open a tag or an attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const CITATION_LABEL = /^\[(\d+)\]$/;

/**
 * Markdown → HTML with nothing active: raw HTML is shown as text, images as their alt text (no remote pixel),
 * links only to http(s); a citation `[n]` points at source n in the page's list.
 */
const markdown = new Marked({
  gfm: true,
  renderer: {
    html: ({ text }: Tokens.HTML | Tokens.Tag) => escapeHtml(text),
    image: ({ text }: Tokens.Image) => escapeHtml(text),
    link(this: { parser: { parseInline(tokens: Tokens.Generic[]): string } }, { href, title, tokens, text }: Tokens.Link) {
      const label = this.parser.parseInline(tokens);
      const citation = CITATION_LABEL.exec(text);
      if (citation) return `<a class="cite" href="#ref-${citation[1]}"${title ? ` title="${escapeHtml(title)}"` : ''}>${label}</a>`;
      if (!isHttpUrl(href)) return label;
      return `<a href="${escapeHtml(href)}" rel="noopener noreferrer nofollow">${label}</a>`;
    },
  },
});

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

const STYLE = `
body{font:16px/1.6 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f;overflow-wrap:anywhere}
h1{font-size:1.7rem;line-height:1.25}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.meta,.check,.round span{color:#666;font-size:.9rem}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
pre{background:#f5f5f7;padding:.8rem;overflow:auto}code{font-size:.9em}
blockquote{border-left:3px solid #ccc;margin-left:0;padding-left:1rem;color:#444}
a.cite{text-decoration:none;font-size:.8em;vertical-align:super}
.sources li{margin:.3rem 0}.sources img{width:16px;height:16px;vertical-align:middle;margin-right:.3rem}
.flag{color:#b35c00;font-size:.9rem}
@media print{body{margin:0;max-width:none;font-size:11pt}a{color:inherit}a[href^="http"]::after{content:" (" attr(href) ")";font-size:.8em;color:#555}a.cite::after{content:none}
h2{break-after:avoid}table,pre,blockquote,li{break-inside:avoid}.sources img{display:none}}
`;

/** The body without its leading `# Title`, which the page's header already shows. */
function withoutTitle(body: string, title: string): string {
  return body.replace(/^#[ \t]+([^\n]*)\n+/, (line, text: string) => (text.trim() === title.trim() ? '' : line));
}

/** The report page: the report, its sources (checked against the pages visited), and the research that led to it. */
export function renderPage(page: ReportPage): string {
  const t = strings(page.lang);
  const sources = page.references
    .map((r) => {
      const host = hostOf(r.url);
      const link = isHttpUrl(r.url) ? `<a href="${escapeHtml(r.url)}" rel="noopener noreferrer nofollow">${escapeHtml(r.title || r.url)}</a>` : escapeHtml(r.title || r.url);
      const icon = host && isHttpUrl(r.url) ? `<img alt="" loading="lazy" referrerpolicy="no-referrer" src="https://${escapeHtml(host)}/favicon.ico">` : '';
      const flag = page.check.unvisited.includes(r.index) ? ` <span class="flag">⚠️ ${escapeHtml(t.notVisited)}</span>` : '';
      return `<li id="ref-${r.index}" value="${r.index}">${icon}${link} <span class="meta">${escapeHtml(host)}</span>${flag}</li>`;
    })
    .join('\n');
  const rounds = page.rounds
    .map((r) => `<li class="round">${escapeHtml(r.query || '…')} <span>· ${escapeHtml(r.goal)} · ${escapeHtml(t.sources(r.sites))}</span></li>`)
    .join('\n');
  const meta = [page.topic, new Date(page.createdAt).toISOString().slice(0, 10), page.usage ? t.tokens(page.usage.inputTokens + page.usage.outputTokens) : '', page.cost ? t.cost(page.cost) : '']
    .filter(Boolean)
    .map(escapeHtml)
    .join(' · ');
  return `<!doctype html>
<html lang="${page.lang === 'zh' ? 'zh' : 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(page.title.slice(0, 200))}</title><style>${STYLE}</style></head>
<body><header><h1>${escapeHtml(page.title)}</h1><p class="meta">${meta}</p></header>
<main class="report">${markdown.parse(withoutTitle(page.body, page.title), { async: false })}</main>
<section class="sources"><h2>${escapeHtml(t.referencesHeading)}</h2><ol>${sources}</ol>
<p class="check">${escapeHtml(t.reportFooter(page.check, page.usage, page.cost))}</p></section>
<section class="research"><h2>${escapeHtml(t.pageResearch)}</h2>${page.plan ? `<p>${escapeHtml(page.plan)}</p>` : ''}<ol>${rounds}</ol></section>
</body></html>
`;
}
