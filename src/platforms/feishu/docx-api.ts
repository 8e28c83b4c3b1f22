import PQueue from 'p-queue';
import { FeishuError, type FeishuApi } from './api.js';
import type { DescendantBatch } from './docx-blocks.js';

/**
 * The docx and drive calls a report document takes, through FeishuApi (token refresh, rate-limit waits). Creating
 * a document and inserting blocks are limited to 3 a second per app (and edits to 3 a second per document, SDK
 * docstrings of `document.create` and `documentBlockDescendant.create`): one call every 400 ms keeps any second
 * at three.
 */
export class DocxApi {
  private readonly edits = new PQueue({ intervalCap: 1, interval: 400 });

  constructor(private readonly api: FeishuApi) {}

  /** A new docx document owned by the app (in `folderToken` when given); returns its document_id. */
  async create(title: string, folderToken?: string): Promise<string> {
    const res = await this.api.call<{ data?: { document?: { document_id?: string } } }>(
      () => this.api.client.docx.v1.document.create({ data: { title, ...(folderToken ? { folder_token: folderToken } : {}) } }),
      this.edits,
    );
    const id = res.data?.document?.document_id;
    if (!id) throw new FeishuError(-1, 'docx document.create returned no document_id');
    return id;
  }

  /**
   * Appends one batch of blocks at `index` of the document's first level. `clientToken`: the same for every attempt
   * of this batch, so one whose answer was lost is not inserted twice.
   */
  async insert(documentId: string, batch: DescendantBatch, index: number, clientToken: string): Promise<void> {
    await this.api.call(
      () =>
        this.api.client.docx.v1.documentBlockDescendant.create({
          path: { document_id: documentId, block_id: documentId },
          params: { document_revision_id: -1, client_token: clientToken },
          data: { children_id: batch.children_id, descendants: batch.descendants as never, index },
        }),
      this.edits,
    );
  }

  /** The group chat as a collaborator that can view (the app must be in the chat). */
  async shareWithChat(documentId: string, chatId: string): Promise<void> {
    await this.api.call(() =>
      this.api.client.drive.v1.permissionMember.create({
        path: { token: documentId },
        params: { type: 'docx', need_notification: false },
        data: { member_type: 'openchat', member_id: chatId, perm: 'view', type: 'chat' },
      }),
    );
  }

  /** Anyone in the tenant who has the link can read it. */
  async shareWithTenant(documentId: string): Promise<void> {
    await this.api.call(() =>
      this.api.client.drive.v2.permissionPublic.patch({ path: { token: documentId }, params: { type: 'docx' }, data: { link_share_entity: 'tenant_readable' } }),
    );
  }

  /** The document's address as Feishu gives it (drive meta with_url). */
  async url(documentId: string): Promise<string | undefined> {
    const res = await this.api.call<{ data?: { metas?: { url?: string }[] } }>(() =>
      this.api.client.drive.v1.meta.batchQuery({ data: { request_docs: [{ doc_token: documentId, doc_type: 'docx' }], with_url: true } }),
    );
    return res.data?.metas?.[0]?.url || undefined;
  }
}
