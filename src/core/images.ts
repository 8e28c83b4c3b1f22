import { strings } from './i18n.js';
import type { FileRef } from './ports/chat.js';
import type { ImageLimits } from './ports/research.js';
import type { Lang } from './ports/thread.js';

export interface PickedImages {
  /** Images the research reads, in the order attached. */
  images: FileRef[];
  /** Attachments that are not images (or all of them, when the backend reads no images). */
  rest: FileRef[];
  /** Images not sent, each named with why, in the thread's language; empty when none was skipped. */
  skipped: string[];
}

/**
 * Splits a request's attachments for a backend that reads images: the first `maxImages` images of a type it reads
 * and within its size go to the research; the others are named as skipped (too large, one too many, a type it does
 * not read). Without image limits every attachment stays a file.
 */
export function pickImages(files: readonly FileRef[], limits: ImageLimits | undefined, lang: Lang): PickedImages {
  if (!limits) return { images: [], rest: [...files], skipped: [] };
  const t = strings(lang);
  const images: FileRef[] = [];
  const rest: FileRef[] = [];
  const skipped: string[] = [];
  for (const f of files) {
    const mime = f.mime?.toLowerCase() ?? '';
    if (!mime.startsWith('image/')) rest.push(f);
    // `image/*`: the platform does not say which kind (Feishu); the downloaded bytes tell.
    else if (!limits.types.includes(mime) && mime !== 'image/*') skipped.push(t.imageNotUsed(f.name));
    else if (f.size > limits.maxBytes) skipped.push(t.imageTooLarge(f.name, limits.maxBytes));
    else if (images.length >= limits.maxImages) skipped.push(t.imageOverCount(f.name, limits.maxImages));
    else images.push(f);
  }
  return { images, rest, skipped };
}

/** The image type its first bytes show (JPEG, PNG, BMP, WEBP), or undefined for anything else. */
export function sniffImage(data: Uint8Array): string | undefined {
  const at = (i: number, ...bytes: number[]) => bytes.every((b, j) => data[i + j] === b);
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0x42, 0x4d)) return 'image/bmp';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return undefined;
}
