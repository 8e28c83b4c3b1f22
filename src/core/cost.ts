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
