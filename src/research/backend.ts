import type { Config } from '../config.js';
import type { Logger } from '../core/logger.js';
import { createAgentBackend } from './agent.js';
import { createQwenBackend } from './qwen.js';
import type { ResearchBackend } from './types.js';

/** The configured research backend; `log` notes report links the agent backend could not use. */
export function createBackend(config: Config, log?: Logger): ResearchBackend {
  if (config.research.backend === 'deep-search-agent') {
    return createAgentBackend({
      baseUrl: config.dashscope.baseUrl,
      apiKey: config.dashscope.apiKey ?? '',
      agentId: config.research.agentId ?? '',
      agentVersion: config.research.agentVersion,
      timeoutMs: config.dashscope.idleTimeoutMs,
      log,
    });
  }
  return createQwenBackend({
    baseUrl: config.dashscope.baseUrl,
    apiKey: config.dashscope.apiKey ?? '',
    model: config.research.model,
    idleTimeoutMs: config.dashscope.idleTimeoutMs,
  });
}
