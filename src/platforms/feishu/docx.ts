import { createHash } from 'node:crypto';
import { isHttpUrl } from '../../common/markdown.js';
import { clip } from '../../core/progress-text.js';
import type { Lang } from '../../core/i18n.js';
import type { Logger } from '../../core/ports/logger.js';
import type { ReportPart, ThreadKey } from '../../core/ports/chat.js';
import { toFeishuError, type FeishuApi } from './api.js';
import { card, type Card } from './cards.js';
import { DocxApi } from './docx-api.js';
import { descendantBatches, markdownToBlocks } from './docx-blocks.js';
import { parseThreadKey } from './thread-key.js';

/** How report documents are shared and where they are created (FEISHU_DOC_SHARE, FEISHU_DOC_FOLDER_TOKEN). */
export interface DocSettings {
  share: 'chat' | 'tenant';
  folderToken?: string;
  /** FEISHU_DOMAIN, for the document's address when Feishu does not give it. */
  domain: string;
}

/** The report as a Feishu document: its title, its whole Markdown (body and references), the thread's language. */
export type DocPart = ReportPart & { kind: 'doc'; title: string; markdown: string; lang: Lang };

/** Feishu's answer when the app lacks a scope (the tenant token: 99991672; a user token: 99991679). */
const SCOPE_CODES = new Set([99991672, 99991679]);
/** How long a tenant whose app lacks the scopes goes without documents before one is tried again (silently). */
const RETRY_MS = 3_600_000;
/** Document titles are clipped to this many characters (Feishu's own limit is not documented in the SDK). */
const TITLE_MAX = 200;

const TEXT = {
  en: {
    open: 'Open the document',
    chat: 'The report as a Feishu document, readable by everyone in this chat.',
    tenant: 'The report as a Feishu document, readable by anyone in the organisation who has the link.',
    noScopes:
      'This report could not also be created as a Feishu document: the app lacks the document scopes (docx:document to create it, drive:drive to share it). The .md file above is the full copy. An admin can add the scopes under Permissions & Scopes in the developer console and publish a new version. (Said once.)',
  },
  zh: {
    open: '打开文档',
    chat: '报告已保存为飞书文档，本群成员均可阅读。',
    tenant: '报告已保存为飞书文档，组织内获得链接的人均可阅读。',
    noScopes:
      '无法同时将本报告创建为飞书文档：应用缺少文档权限（创建文档需要 docx:document，分享需要 drive:drive）。上方的 .md 文件即为完整副本。管理员可在开发者后台的「权限管理」中开通这些权限并发布新版本。（仅提示一次）',
  },
} as const;

/**
 * The report as a docx document: created (in the folder, if set), its Markdown inserted as blocks in batches of at
 * most 1000, shared with the thread's chat (view) or the tenant (link), then a card in the thread links it. Without
 * the docx or drive scopes the thread is told once per tenant that the .md file is the copy, and documents are
 * skipped there for a while. Any other failure is logged: the report is already in the thread.
 */
export class ReportDocs {
  private readonly docx: DocxApi;
  /** Tenants whose app lacks the scopes: until when documents are skipped there. */
  private readonly skipUntil = new Map<string, number>();
  /** Tenants told about the missing scopes. */
  private readonly told = new Set<string>();

  constructor(
    private readonly api: FeishuApi,
    private readonly log: Logger,
    private readonly settings: DocSettings,
  ) {
    this.docx = new DocxApi(api);
  }

  async deliver(thread: ThreadKey, part: DocPart, tag: string, uuid: (piece: number) => string | undefined): Promise<void> {
    const { tenant, chat, root } = parseThreadKey(thread);
    const until = this.skipUntil.get(tenant);
    if (until !== undefined && Date.now() < until) return;
    let documentId: string | undefined;
    try {
      documentId = await this.docx.create(clip(part.title.replace(/\s+/g, ' ').trim(), TITLE_MAX) || 'Deep Research', this.settings.folderToken);
      const batches = descendantBatches(markdownToBlocks(part.markdown));
      let top = 0;
      for (const [i, batch] of batches.entries()) {
        // The same token for every attempt of a batch (FeishuApi retries), so one whose answer was lost goes in once.
        await this.docx.insert(documentId, batch, top, clientToken(`${thread}\n${tag}\n${documentId}\n${i}`));
        top += batch.children_id.length;
      }
      await (this.settings.share === 'tenant' ? this.docx.shareWithTenant(documentId) : this.docx.shareWithChat(documentId, chat));
      const url = await this.url(documentId);
      await this.api.reply(root, 'interactive', linkCard(part, url, this.settings.share), uuid(0));
      this.skipUntil.delete(tenant);
      this.log.info({ thread, document: documentId, batches: batches.length }, 'report document created');
    } catch (err) {
      const e = toFeishuError(err);
      if (!SCOPE_CODES.has(e.code)) {
        this.log.warn({ thread, code: e.code, err: e.message, document: documentId }, 'report document not created; the report and its file are in the thread');
        return;
      }
      this.skipUntil.set(tenant, Date.now() + RETRY_MS);
      this.log.warn({ tenant, code: e.code, err: e.message }, 'the app lacks the docx:document / drive:drive scopes; report documents skipped for this tenant');
      if (this.told.has(tenant)) return;
      // Remembered before the reply, so two reports finishing together cannot both say it.
      this.told.add(tenant);
      await this.api.reply(root, 'interactive', noticeCard(TEXT[part.lang].noScopes), uuid(1)).catch((replyErr: unknown) => {
        this.told.delete(tenant);
        this.log.warn({ thread, code: toFeishuError(replyErr).code }, 'could not post the missing-scopes notice');
      });
    }
  }

  /** The address Feishu gives the document, or one built from the domain when it gives none. */
  private async url(documentId: string): Promise<string> {
    const given = await this.docx.url(documentId).catch((err: unknown) => {
      this.log.debug({ code: toFeishuError(err).code }, 'document url not available from drive meta');
      return undefined;
    });
    if (given && isHttpUrl(given)) return given;
    const { domain } = this.settings;
    const base = domain === 'feishu' ? 'https://feishu.cn' : domain === 'lark' ? 'https://larksuite.com' : domain.replace(/\/+$/, '');
    return `${base}/docx/${encodeURIComponent(documentId)}`;
  }
}

/** A docx client_token (UUID-shaped) that is the same for every attempt of one operation. */
function clientToken(of: string): string {
  const h = createHash('sha256').update(of).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The thread's link to the document: the title as plain text, a line saying who can read it, a button. */
export function linkCard(part: DocPart, url: string, share: DocSettings['share']): Card {
  const t = TEXT[part.lang];
  return card(part.title, 'green', [
    { tag: 'div', text: { tag: 'plain_text', content: `📄 ${share === 'tenant' ? t.tenant : t.chat}` } },
    { tag: 'button', text: { tag: 'plain_text', content: t.open }, type: 'primary', behaviors: [{ type: 'open_url', default_url: url }] },
  ], part.title);
}

function noticeCard(text: string): Card {
  return card('Deep Research', 'grey', [{ tag: 'div', text: { tag: 'plain_text', content: text } }], text);
}
