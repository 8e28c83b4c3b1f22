import type { FileRef } from '../../core/ports/chat.js';

/**
 * What a Feishu message carries that the research can read: an `image` message's picture, a `file` message's file,
 * and the `img` elements of a `post` (rich text). Received contents (test/fixtures/samples/feishu/message-content.json):
 * image `{image_key}`, file `{file_key, file_name}`, post `{title, content: [[{tag: 'img', image_key}, …]]}` (or the
 * same under a locale key). Feishu declares no image type: images are `image/*`, and the downloaded bytes tell.
 * Videos (`media`), audio and stickers are left out: neither backend reads them.
 */

/** A message resource: downloaded with the message resource API (`type=image` for image keys, `file` for files). */
export interface ResourceRef {
  messageId: string;
  key: string;
  type: 'image' | 'file';
}

/** Keys and ids as Feishu writes them: letters, digits, `_` and `-`. Anything else is not fetched. */
const ID = /^[A-Za-z0-9_-]{1,200}$/;
const RESOURCE_PATH = /^\/open-apis\/im\/v1\/messages\/([A-Za-z0-9_-]{1,200})\/resources\/([A-Za-z0-9_-]{1,200})\?type=(image|file)$/;

/** The Open API path of a resource (kept as the FileRef's url; only ever fetched from the configured Open API). */
export function resourcePath(ref: ResourceRef): string {
  return `/open-apis/im/v1/messages/${ref.messageId}/resources/${ref.key}?type=${ref.type}`;
}

export function parseResourcePath(url: string | undefined): ResourceRef | undefined {
  const m = url ? RESOURCE_PATH.exec(url) : null;
  return m ? { messageId: m[1]!, key: m[2]!, type: m[3] as 'image' | 'file' } : undefined;
}

/** Media types by file name extension, for files whose type Feishu does not declare. */
const MIME: Record<string, string> = {
  pdf: 'application/pdf',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  html: 'text/html',
  json: 'application/json',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  bmp: 'image/bmp',
  webp: 'image/webp',
  gif: 'image/gif',
};

export function mimeOfName(name: string): string | undefined {
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(name)?.[1]?.toLowerCase();
  return ext ? MIME[ext] : undefined;
}

/** The attachments of one message, in the order they appear; images are named later (see nameImages). */
export function messageFiles(messageId: string, type: string, content: string): FileRef[] {
  if (!ID.test(messageId)) return [];
  let body: unknown;
  try {
    body = JSON.parse(content);
  } catch {
    return [];
  }
  if (!body || typeof body !== 'object') return [];
  const image = (key: unknown): FileRef[] =>
    typeof key === 'string' && ID.test(key) ? [{ id: key, name: key, size: 0, mime: 'image/*', url: resourcePath({ messageId, key, type: 'image' }) }] : [];
  if (type === 'image') return image((body as { image_key?: unknown }).image_key);
  if (type === 'file') {
    const { file_key: key, file_name: raw } = body as { file_key?: unknown; file_name?: unknown };
    if (typeof key !== 'string' || !ID.test(key)) return [];
    const name = typeof raw === 'string' && raw.trim() ? raw.trim().slice(0, 200) : key;
    return [{ id: key, name, size: 0, mime: mimeOfName(name), url: resourcePath({ messageId, key, type: 'file' }) }];
  }
  if (type === 'post') return postImageKeys(body).flatMap(image);
  return [];
}

/** The image keys of a post's `img` elements, in reading order. */
export function postImageKeys(body: unknown): string[] {
  type Post = { content?: unknown };
  const b = body as Post;
  const post: Post | undefined = Array.isArray(b.content)
    ? b
    : (Object.values(body as Record<string, unknown>).find((v) => v && typeof v === 'object' && Array.isArray((v as Post).content)) as Post | undefined);
  if (!Array.isArray(post?.content)) return [];
  return (post.content as unknown[])
    .flatMap((line) => (Array.isArray(line) ? line : []))
    .flatMap((n) => ((n as { tag?: unknown })?.tag === 'img' && typeof (n as { image_key?: unknown }).image_key === 'string' ? [(n as { image_key: string }).image_key] : []));
}

/**
 * Images named as people see them: `image-1.png`, `image-2.png`, … in the order attached (Feishu gives a picture no
 * name; the number tells which one a notice means). The same image twice counts once.
 */
export function nameImages(files: FileRef[]): FileRef[] {
  const seen = new Set<string>();
  let n = 0;
  return files.flatMap((f) => {
    const key = f.url ?? f.id;
    if (seen.has(key)) return [];
    seen.add(key);
    return f.mime === 'image/*' ? [{ ...f, name: `image-${++n}.png` }] : [f];
  });
}
