import type { Config } from '../config.js';
import { createQwenBackend } from './qwen.js';
import type { ResearchBackend } from './types.js';

/** The configured research backend. */
export function createBackend(config: Config): ResearchBackend {
  if (config.research.backend === 'deep-search-agent') {
    throw new Error('RESEARCH_BACKEND=deep-search-agent is not available in this version; use qwen-deep-research.');
  }
  return createQwenBackend({
    baseUrl: config.dashscope.baseUrl,
    apiKey: config.dashscope.apiKey ?? '',
    model: config.research.model,
    idleTimeoutMs: config.dashscope.idleTimeoutMs,
  });
}
