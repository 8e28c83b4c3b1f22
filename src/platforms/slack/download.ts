import { boundedDownload, DownloadError, formatBytes } from '../../common/download.js';
import type { DownloadLimits, FileRef } from '../../core/ports/chat.js';

/**
 * Downloads a file a person attached, with the bot token; the token is only ever sent to Slack's own hosts.
 * Slack answers a request it does not accept with a redirect to its sign-in page, never followed.
 */
export async function downloadFile(file: FileRef, limits: DownloadLimits, fileHosts: string[], token: string | undefined): Promise<Uint8Array> {
  if (file.size > limits.maxBytes) {
    throw new Error(`${file.name} is ${formatBytes(file.size)}, more than the limit of ${formatBytes(limits.maxBytes)}.`);
  }
  const url = URL.canParse(file.url ?? '') ? new URL(file.url!) : undefined;
  if (!url || !fileHosts.includes(url.host)) throw new Error(`${file.name} is not stored on Slack, so the bot did not fetch it.`);
  try {
    return await boundedDownload(url, { what: file.name, maxBytes: limits.maxBytes, timeoutMs: limits.timeoutMs, headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    if (err instanceof DownloadError && err.reason === 'redirect') {
      throw new Error(`${file.name} could not be fetched from Slack (it asked the bot to sign in).`, { cause: err });
    }
    throw err;
  }
}
