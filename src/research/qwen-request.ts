import { ResearchError, type AttachedImage, type ImageLimits, type ResearchRequest } from '../core/ports/research.js';
import type { ResearchTools } from './tools-file.js';

/**
 * Images qwen-deep-research reads (reference/dashscope.md §2.1, the qianwenai API reference): JPEG, PNG, BMP or
 * WEBP, at most 10 MB each and 5 per request, sent with the first user message.
 */
export const QWEN_IMAGE_LIMITS: ImageLimits = {
  maxImages: 5,
  maxBytes: 10 * 1024 * 1024,
  types: ['image/jpeg', 'image/png', 'image/bmp', 'image/webp'],
};

/** One item of a message whose content is an array: an image (URL or data URI) or the text. */
export type ContentItem = { image: string } | { text: string };

interface WireMessage {
  role: 'user' | 'assistant';
  content: string | ContentItem[];
}

/**
 * The body of one qwen-deep-research request (step 1 or step 2): incremental output, the report format,
 * `enable_feedback: false` to skip the clarifying question, the attached images as content items of the first
 * user message, and the channel's MCP servers as `research_tools` (snapshot model only; the tools file checked
 * that).
 */
export function qwenRequestBody(model: string, req: ResearchRequest, tools?: ResearchTools): Record<string, unknown> {
  const parameters: Record<string, unknown> = {
    incremental_output: true,
    output_format: req.format === 'summary' ? 'model_summary_report' : 'model_detailed_report',
  };
  if (!req.clarify) parameters.enable_feedback = false;
  const researchTools = tools?.forChannel(req.channel);
  if (researchTools && researchTools.length > 0) parameters.research_tools = researchTools;
  return { model, input: { messages: wireMessages(req) }, parameters };
}

function wireMessages(req: ResearchRequest): WireMessage[] {
  const messages: WireMessage[] = req.messages.map((m) => ({ role: m.role, content: m.content }));
  const images = req.images ?? [];
  if (images.length === 0) return messages;
  checkImages(images);
  const first = messages.find((m) => m.role === 'user');
  if (first) {
    const text = typeof first.content === 'string' ? first.content : '';
    first.content = [...images.map((img) => ({ image: dataUri(img) })), { text }];
  }
  return messages;
}

/** `data:image/png;base64,…`: DashScope takes an image as a public URL or as a base64 data URI. */
export function dataUri(img: AttachedImage): string {
  return `data:${img.mime};base64,${Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).toString('base64')}`;
}

/** The limits are checked before anything is sent: DashScope would refuse the request, after queueing it. */
function checkImages(images: AttachedImage[]): void {
  const { maxImages, maxBytes, types } = QWEN_IMAGE_LIMITS;
  if (images.length > maxImages) {
    throw new ResearchError('file_rejected', `${images.length} images are attached; qwen-deep-research reads at most ${maxImages}.`);
  }
  for (const img of images) {
    if (!types.includes(img.mime)) {
      throw new ResearchError('file_rejected', `${img.name} is ${img.mime || 'of an unknown type'}; qwen-deep-research reads JPEG, PNG, BMP and WEBP images.`);
    }
    if (img.data.byteLength > maxBytes) {
      throw new ResearchError('file_rejected', `${img.name} is larger than ${maxBytes / 1024 / 1024} MB, the limit for an image.`);
    }
  }
}
