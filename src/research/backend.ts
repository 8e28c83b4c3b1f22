import type { Config } from '../config.js';
import { createAgentBackend } from './agent.js';
import { createQwenBackend } from './qwen.js';
import type { ResearchBackend } from './types.js';

/** The configured research backend. */
export function createBackend(config: Config): ResearchBackend {
  if (config.research.backend === 'deep-search-agent') {
    return createAgentBackend({
      baseUrl: config.dashscope.baseUrl,
      apiKey: config.dashscope.apiKey ?? '',
      agentId: config.research.agentId ?? '',
      agentVersion: config.research.agentVersion,
      timeoutMs: config.dashscope.idleTimeoutMs,
    });
  }
  return createQwenBackend({
    baseUrl: config.dashscope.baseUrl,
    apiKey: config.dashscope.apiKey ?? '',
    model: config.research.model,
    idleTimeoutMs: config.dashscope.idleTimeoutMs,
  });
}
