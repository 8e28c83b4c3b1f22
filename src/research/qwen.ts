import { streamGeneration, type GenerationClientOptions } from './generation.js';
import { QwenMapper } from './qwen-mapper.js';
import { QWEN_IMAGE_LIMITS, qwenRequestBody } from './qwen-request.js';
import type { ResearchTools } from './tools-file.js';
import type { ResearchBackend } from '../core/ports/research.js';

export { GENERATION_PATH } from './generation.js';
export { QwenMapper } from './qwen-mapper.js';
export { QWEN_IMAGE_LIMITS, qwenRequestBody } from './qwen-request.js';

export interface QwenOptions extends GenerationClientOptions {
  /** MCP servers per channel (RESEARCH_TOOLS_FILE), sent as `research_tools` in both steps. */
  tools?: ResearchTools;
}

/**
 * qwen-deep-research (and its snapshot qwen-deep-research-2025-12-15) over DashScope's native endpoint: one
 * streaming request per step, its frames mapped to ResearchEvents by QwenMapper. Reads images attached to the
 * request (with the first user message); cancelling the signal closes the connection.
 */
export function createQwenBackend(opts: QwenOptions): ResearchBackend {
  return {
    name: 'qwen-deep-research',
    images: QWEN_IMAGE_LIMITS,
    async *run(req, signal) {
      const mapper = new QwenMapper();
      const frames = streamGeneration(opts, qwenRequestBody(opts.model, req, opts.tools), signal);
      for await (const frame of frames) yield* mapper.map(frame.json);
      yield mapper.finish();
    },
  };
}
