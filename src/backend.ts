import type { Config } from './config.js';
import type { BudgetSettings } from './core/budget.js';
import { LIST_PRICES } from './core/cost.js';
import type { Logger } from './core/ports/logger.js';
import { createAgentBackend } from './research/agent.js';
import { createQwenBackend } from './research/qwen.js';
import { DashScopeFollowupModel } from './research/followup-model.js';
import type { EngineOptions } from './core/engine-options.js';
import type { ResearchBackend } from './core/ports/research.js';

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
    tools: config.researchTools,
  });
}

/** Seconds without a byte before a follow-up answer gives up: a chat model answers in seconds. */
const FOLLOWUP_IDLE_MS = 60_000;

/** The chat model that answers follow-up questions, its price (configured or listed) and the hourly limit. */
export function followupSettings(config: Config): NonNullable<EngineOptions['followup']> {
  const { model, limitPerHour, price } = config.followup;
  const client = new DashScopeFollowupModel({
    baseUrl: config.dashscope.baseUrl,
    apiKey: config.dashscope.apiKey ?? '',
    model,
    idleTimeoutMs: Math.min(config.dashscope.idleTimeoutMs, FOLLOWUP_IDLE_MS),
  });
  return { model: client, limitPerHour, budget: { model, price: price ?? LIST_PRICES[model] } };
}

/** The model whose price applies, the configured price or its list price, and the monthly cap. */
export function budgetSettings(config: Config): BudgetSettings {
  const model = config.research.backend === 'deep-search-agent' ? 'deep-search-agent' : config.research.model;
  return { model, price: config.price ?? LIST_PRICES[model], monthlyYuan: config.monthlyBudgetYuan };
}
