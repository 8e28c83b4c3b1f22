import { costYuan, formatYuan, utcMonth, type Price } from './cost.js';
import type { Usage } from './ports/research.js';
import type { ThreadStore } from './ports/store.js';
import type { Telemetry } from './ports/telemetry.js';

export interface BudgetSettings {
  model: string;
  /** Undefined when the model's price is not known (and none is configured): no cost is shown or counted. */
  price?: Price;
  /** Estimated spend allowed per calendar month (UTC) across the deployment; undefined: no cap. */
  monthlyYuan?: number;
}

/** Where this month's estimated spend stands against MONTHLY_BUDGET_YUAN. */
export type BudgetStanding = { level: 'ok' } | { level: 'warn' | 'spent'; spent: number; limit: number };

/** Share of the monthly budget at which the thread is warned. */
const WARN_AT = 0.8;

/** What runs cost, in estimated yuan: shown on the progress and the report, counted per month, capped by the budget. */
export class Budget {
  constructor(
    private readonly store: ThreadStore,
    private readonly clock: () => number,
    private readonly telemetry: Telemetry,
    private readonly settings: BudgetSettings,
  ) {}

  get price(): Price | undefined {
    return this.settings.price;
  }

  /** A run's estimated cost, formatted, or undefined when the price or the usage is unknown. */
  format(usage: Usage | undefined): string | undefined {
    return usage && this.settings.price ? formatYuan(costYuan(usage, this.settings.price)) : undefined;
  }

  /** Adds a finished (or failed) run's tokens to this month's spend; every run is billed, step 1 included. */
  async record(usage: Usage | undefined): Promise<void> {
    if (!usage || !this.settings.price) return;
    const yuan = costYuan(usage, this.settings.price);
    this.telemetry.costYuan(this.settings.model, yuan);
    await this.store.addSpend(utcMonth(this.clock()), yuan);
  }

  async standing(): Promise<BudgetStanding> {
    const limit = this.settings.monthlyYuan;
    if (!limit) return { level: 'ok' };
    const spent = await this.store.spentIn(utcMonth(this.clock()));
    return spent >= limit ? { level: 'spent', spent, limit } : spent >= WARN_AT * limit ? { level: 'warn', spent, limit } : { level: 'ok' };
  }
}
