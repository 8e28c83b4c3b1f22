/**
 * The message-reading side of the fake Feishu: the message get API and the message resource API (people's pictures
 * and files), answered in the documented shapes:
 * - `GET /open-apis/im/v1/messages/:message_id` → `{code:0, data:{items:[{message_id, root_id, parent_id, thread_id,
 *   msg_type, create_time, update_time, deleted, updated, chat_id, sender:{id, id_type, sender_type, tenant_key},
 *   body:{content}, mentions?}]}}` (the "接收消息内容结构" page's example; SDK typing of im.v1.message.get).
 * - `GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=image|file` → the bytes, with the file's
 *   Content-Type and Content-Length (the Lark page: "文件类型可通过 response header 中 Content-Type 字段获取"); at most
 *   100 MB; a merged-forward or card message is refused with 234043 (SDK docstring of messageResource.get).
 * Refusal codes the pages state elsewhere or not at all are marked UNCONFIRMED where they are used.
 */
import { deflateSync } from 'node:zlib';
import type { FakeFeishuMessage } from './feishu.js';

export type Reply = { status: number; body: Record<string, unknown>; headers?: Record<string, string> } | { status: 200; bytes: Buffer; headers: Record<string, string> };

/** "仅支持下载 100 MB 以内的资源文件" (message resource API). */
export const RESOURCE_MAX_BYTES = 100 * 1024 * 1024;

/** A message as the message get API returns it. */
export function messageGet(messages: Map<string, FakeFeishuMessage>, id: string, tenant: string, appId: string): Reply {
  const m = messages.get(id);
  // UNCONFIRMED: the code for an unknown message id (the fake's reply endpoint uses the same one).
  if (!m) return { status: 400, body: { code: 230011, msg: 'The message was withdrawn or not found.' } };
  const fromApp = m.sender.startsWith('cli_') || m.sender === 'ou_bot';
  const at = String(Date.now());
  const item = {
    message_id: m.message_id,
    ...(m.root_id && m.root_id !== m.message_id ? { root_id: m.root_id, parent_id: m.parent_id ?? m.root_id } : {}),
    ...(m.thread_id ? { thread_id: m.thread_id } : {}),
    msg_type: m.msg_type,
    create_time: at,
    update_time: at,
    deleted: false,
    updated: false,
    chat_id: m.chat_id,
    sender: fromApp ? { id: appId, id_type: 'app_id', sender_type: 'app', tenant_key: tenant } : { id: m.sender, id_type: 'open_id', sender_type: 'user', tenant_key: tenant },
    body: { content: JSON.stringify(m.content) },
  };
  return { status: 200, body: { code: 0, msg: 'success', data: { items: [item] } } };
}

/** A picture or file of a message, as its bytes. `resources` holds the bytes by key. */
export function messageResource(messages: Map<string, FakeFeishuMessage>, resources: Map<string, Buffer>, id: string, key: string, type: string | null): Reply {
  if (type !== 'image' && type !== 'file') return { status: 400, body: { code: 234001, msg: 'Invalid request param.' } };
  const m = messages.get(id);
  if (m && (m.msg_type === 'interactive' || m.msg_type === 'merge_forward')) {
    return { status: 400, body: { code: 234043, msg: 'Unsupported message type: resources of merged-forward and card messages cannot be fetched.' } };
  }
  const held = m ? resourceKeys(m) : [];
  // UNCONFIRMED code: "File not in msg." for a key that is not in the message (or asked for with the wrong type).
  const found = held.find((r) => r.key === key && r.type === type);
  const bytes = resources.get(key);
  if (!found || !bytes) return { status: 400, body: { code: 234003, msg: 'File not in msg.' } };
  // UNCONFIRMED code for a resource over the 100 MB the API serves.
  if (bytes.length > RESOURCE_MAX_BYTES) return { status: 400, body: { code: 234037, msg: 'Downloaded file size exceeds limit.' } };
  const contentType = type === 'image' ? sniff(bytes) : 'application/octet-stream';
  return { status: 200, bytes, headers: { 'content-type': contentType, 'content-length': String(bytes.length) } };
}

/** The resources a message holds: an image's image_key, a file's file_key, a post's img elements. */
function resourceKeys(m: FakeFeishuMessage): { key: string; type: 'image' | 'file' }[] {
  const c = m.content as { image_key?: string; file_key?: string; content?: { tag?: string; image_key?: string }[][] };
  if (m.msg_type === 'image' && c.image_key) return [{ key: c.image_key, type: 'image' }];
  if ((m.msg_type === 'file' || m.msg_type === 'audio') && c.file_key) return [{ key: c.file_key, type: 'file' }];
  if (m.msg_type === 'media') return [...(c.file_key ? [{ key: c.file_key, type: 'file' as const }] : []), ...(c.image_key ? [{ key: c.image_key, type: 'image' as const }] : [])];
  if (m.msg_type === 'post') return (c.content ?? []).flat().flatMap((n) => (n.tag === 'img' && n.image_key ? [{ key: n.image_key, type: 'image' as const }] : []));
  return [];
}

function sniff(bytes: Buffer): string {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  return 'application/octet-stream';
}

// ---- pictures ------------------------------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([head, body, crc]);
}

/**
 * A valid PNG: a 1×1 picture of colour `rgb`, padded with a text chunk to `size` bytes when that is larger than the
 * picture alone (the pad is zeros after the keyword, so a large one compresses nothing and costs nothing to build).
 */
export function pngBytes(rgb: [number, number, number] = [200, 30, 30], size = 0): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(1, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.from([0, ...rgb])))];
  const end = chunk('IEND', Buffer.alloc(0));
  const bare = parts.reduce((n, p) => n + p.length, end.length);
  if (size > bare + 12 + 8) parts.push(chunk('tEXt', Buffer.concat([Buffer.from('Comment\0', 'latin1'), Buffer.alloc(size - bare - 12 - 8)])));
  return Buffer.concat([...parts, end]);
}
