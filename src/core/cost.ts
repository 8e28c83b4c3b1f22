import type { Usage } from './ports/research.js';

/** Yuan per million tokens. */
export interface Price {
  inputPerM: number;
  outputPerM: number;
}

/**
 * List prices (Beijing region, no free quota) from Model Studio's pricing page, as recorded in the reference.
 * The deep-search-agent's billing is not published: without a configured price its cost is not shown.
 */
export const LIST_PRICES: Readonly<Record<string, Price>> = {
  'qwen-deep-research': { inputPerM: 54, outputPerM: 163 },
  'qwen-deep-research-2025-12-15': { inputPerM: 79, outputPerM: 236 },
  // Chat models for follow-up questions: Model Studio pricing page (https://help.aliyun.com/zh/model-studio/model-pricing),
  // 华北2（北京）, read November 2026: the price of a request with at most 128K input tokens (32K for qwen3-max), non-thinking
  // output. Longer requests cost more per token (qwen-plus: ¥2.4/¥20 up to 256K, ¥4.8/¥48 up to 1M); qwen-plus
  // with thinking on bills ¥8 per million output tokens.
  'qwen-plus': { inputPerM: 0.8, outputPerM: 2 },
  'qwen-flash': { inputPerM: 0.15, outputPerM: 1.5 },
  'qwen-turbo': { inputPerM: 0.3, outputPerM: 0.6 },
  'qwen-max': { inputPerM: 2.4, outputPerM: 9.6 },
  'qwen3-max': { inputPerM: 2.5, outputPerM: 10 },
};

export function costYuan(usage: Usage, price: Price): number {
  return (usage.inputTokens * price.inputPerM + usage.outputTokens * price.outputPerM) / 1e6;
}

/** ¥1.26; amounts under a fen as ¥0.01 or less. */
export function formatYuan(yuan: number): string {
  return yuan > 0 && yuan < 0.01 ? '<¥0.01' : `¥${yuan.toFixed(2)}`;
}

export function utcMonth(now: number): string {
  return new Date(now).toISOString().slice(0, 7);
}
