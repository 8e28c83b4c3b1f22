import { boundedDownload, DownloadError } from '../../common/download.js';
import type { DownloadLimits, FileRef, Inbound } from '../../core/ports/chat.js';
import type { Logger } from '../../core/ports/logger.js';
import { toFeishuError, type FeishuApi } from './api.js';
import { messageFiles, nameImages, parseResourcePath } from './attachments.js';
import { linkedMessages, type MessageEvent } from './inbound.js';

/** How long looking up a thread's root may hold a mention before it goes on without the root's attachments. */
export const ROOT_LOOKUP_MS = 5000;
/** Messages whose attachments are remembered (a thread's root is looked up once, not at every mention in it). */
const REMEMBERED = 1000;

/**
 * People's attachments on Feishu. A mention in a thread (or a reply to a message) takes along the pictures and files
 * of the thread's root and of the message replied to: someone posts a chart, then asks the bot about it in its
 * thread. Those messages are read with the message get API, within ROOT_LOOKUP_MS; a lookup that fails or takes
 * longer leaves them out (logged), never the request. Downloads go through the message resource API with the
 * tenant token, bounded like every download (declared size, bytes read, deadline).
 */
export class FeishuResources {
  private readonly known = new Map<string, FileRef[]>();

  constructor(
    private readonly api: FeishuApi,
    private readonly log: Logger,
    private readonly lookupMs = ROOT_LOOKUP_MS,
  ) {}

  /** The mention with the attachments of the messages it is linked to (theirs first, as they came first). */
  async withLinked(e: MessageEvent, inbound: Inbound): Promise<Inbound> {
    if (inbound.kind !== 'mention') return inbound;
    const ids = linkedMessages(e);
    if (ids.length === 0) return inbound;
    const linked = (await Promise.all(ids.map((id) => this.filesOf(id)))).flat();
    if (linked.length === 0) return inbound;
    return { ...inbound, files: nameImages([...linked, ...(inbound.files ?? [])]) };
  }

  /** Downloads an attachment from the message it came in. Rejects with a message that names the file. */
  async download(file: FileRef, limits: DownloadLimits): Promise<Uint8Array> {
    const ref = parseResourcePath(file.url);
    if (!ref) throw new Error(`${file.name} is not an attachment the bot can fetch from Feishu.`);
    const url = `${this.api.baseUrl}/open-apis/im/v1/messages/${ref.messageId}/resources/${ref.key}?type=${ref.type}`;
    for (let attempt = 0; ; attempt++) {
      const token = await this.api.tenantToken(attempt > 0);
      try {
        return await this.api.throttled(() =>
          boundedDownload(url, { what: file.name, maxBytes: limits.maxBytes, timeoutMs: limits.timeoutMs, headers: { authorization: `Bearer ${token}` } }),
        );
      } catch (err) {
        // Feishu answers a refused token like any refusal (not 200, before a byte of the file): one more try with a
        // fresh token. Anything else (too large, too slow) is final; its message names the file and says why.
        if (attempt === 0 && err instanceof DownloadError && err.reason === 'status') continue;
        this.log.warn({ type: ref.type, reason: (err as DownloadError).reason }, 'feishu attachment download failed');
        throw err;
      }
    }
  }

  /** A linked message's attachments (remembered), or none when it cannot be read in time. */
  private async filesOf(messageId: string): Promise<FileRef[]> {
    const known = this.known.get(messageId);
    if (known) return known;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.lookupMs)));
    try {
      const found = await Promise.race([this.api.getMessage(messageId), timeout]);
      if (found === 'timeout') {
        this.log.warn({ ms: this.lookupMs }, 'thread root lookup took too long; going on without its attachments');
        return [];
      }
      const files = found && !found.deleted ? messageFiles(messageId, found.msg_type ?? '', found.body?.content ?? '') : [];
      this.known.set(messageId, files);
      if (this.known.size > REMEMBERED) this.known.delete(this.known.keys().next().value!);
      return files;
    } catch (err) {
      this.log.warn({ code: toFeishuError(err).code }, 'thread root lookup failed; going on without its attachments');
      return [];
    } finally {
      clearTimeout(timer);
    }
  }
}
