import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { loadResearchTools, ResearchToolsError, type ResearchTools } from './research/tools-file.js';
import type { Limits } from './core/admission.js';
import { SPECS, type Spec } from './config-specs.js';

/**
 * The only reader of the environment. Every variable is listed here with its schema and an example; a bad
 * value stops start-up with a message that names the variable, says what is wrong and shows an example.
 * Secret values never appear in messages.
 */

export type VariableName = keyof typeof SPECS;
type Values = { [K in VariableName]: z.output<(typeof SPECS)[K]['schema']> | ((typeof SPECS)[K] extends { default: string } ? never : undefined) };

export interface Config {
  dashscope: { apiKey?: string; baseUrl: string; idleTimeoutMs: number };
  research: {
    backend: 'qwen-deep-research' | 'deep-search-agent';
    model: string;
    agentId?: string;
    agentVersion: string;
    format: 'detailed' | 'summary';
    clarify: boolean;
    maxAttempts: number;
  };
  limits: Limits & { answerBy: 'requester' | 'anyone' };
  language: 'auto' | 'en' | 'zh';
  slack?: { botToken: string; appToken?: string; signingSecret?: string; apiUrl: string };
  feishu?: {
    appId: string;
    appSecret: string;
    domain: string;
    connection: 'websocket' | 'webhook';
    encryptKey?: string;
    verificationToken?: string;
    /** Webhook without an encrypt key, checked by the verification token alone (unsigned, forgeable). */
    allowTokenOnly: boolean;
    /** Who may read the report's document: the thread's chat (a member with view permission) or the tenant by link. */
    docShare: 'chat' | 'tenant';
    /** The folder the report documents are created in; the app's own space when unset. */
    docFolderToken?: string;
  };
  /** The SQLite file (STORE_URL=sqlite:…), or '' when the store is Redis (`redisUrl`: a cluster). */
  storePath: string;
  redisUrl?: string;
  /** How long a stopping process lets its running research finish before handing it back. */
  drainSeconds: number;
  port: number;
  logLevel: string;
  reportsDir: string;
  /** Yuan per million tokens, when the admin set both (otherwise the model's list price, where known). */
  price?: { inputPerM: number; outputPerM: number };
  monthlyBudgetYuan?: number;
  /** Base URL of the bot: report pages at `${publicUrl}/reports/<id>`. */
  publicUrl?: string;
  reportPageTtlDays?: number;
  /** Follow-up questions on finished reports: the chat model, its price when configured, the hourly limit per person. */
  followup: { model: string; limitPerHour: number; price?: { inputPerM: number; outputPerM: number } };
  /** MCP servers passed to the snapshot model as research_tools, validated at start-up. */
  researchTools?: ResearchTools;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration problem${problems.length > 1 ? 's' : ''}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads `.env` (when present) under the real environment: a variable already set wins. */
export function readEnvironment(envFile: string | null = '.env'): Record<string, string | undefined> {
  const fromFile = envFile && existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  return { ...fromFile, ...process.env };
}

export function loadConfig(env: Record<string, string | undefined> = readEnvironment()): Config {
  const problems: string[] = [];
  const v = {} as Record<string, unknown>;
  for (const [name, spec] of Object.entries(SPECS) as [VariableName, Spec][]) {
    const raw = env[name]?.trim();
    const value = raw === undefined || raw === '' ? spec.default : raw;
    if (value === undefined) continue;
    const parsed = spec.schema.safeParse(value);
    if (parsed.success) v[name] = parsed.data;
    else {
      const what = spec.secret ? 'the value' : JSON.stringify(value);
      problems.push(`${name}: ${what} ${parsed.error.issues[0]?.message ?? 'is invalid'}. Example: ${name}=${spec.example}`);
    }
  }
  const values = v as Values;
  const requireWith = (name: VariableName, because: string) => {
    if (values[name] === undefined && !problems.some((p) => p.startsWith(`${name}:`))) {
      problems.push(`${name}: is required ${because}. Example: ${name}=${SPECS[name].example}`);
    }
  };
  if (values.RESEARCH_BACKEND === 'deep-search-agent') requireWith('DEEP_SEARCH_AGENT_ID', 'when RESEARCH_BACKEND=deep-search-agent');
  if (values.SLACK_APP_TOKEN !== undefined || values.SLACK_SIGNING_SECRET !== undefined) {
    requireWith('SLACK_BOT_TOKEN', 'when SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set');
  }
  if (values.SLACK_BOT_TOKEN !== undefined && values.SLACK_APP_TOKEN === undefined) {
    requireWith('SLACK_SIGNING_SECRET', 'for Slack in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)');
  }
  if (values.FEISHU_APP_ID !== undefined) requireWith('FEISHU_APP_SECRET', 'when FEISHU_APP_ID is set');
  if (values.FEISHU_APP_SECRET !== undefined) requireWith('FEISHU_APP_ID', 'when FEISHU_APP_SECRET is set');
  if (values.FEISHU_APP_ID !== undefined && values.FEISHU_CONNECTION === 'webhook') {
    // A public webhook must tell Feishu's requests from anyone else's: only the encrypt key makes Feishu sign them.
    if (!values.FEISHU_ALLOW_TOKEN_ONLY) {
      requireWith(
        'FEISHU_ENCRYPT_KEY',
        'when FEISHU_CONNECTION=webhook, so that Feishu signs every request: set one in the Developer Console → the app → Events & Callbacks → Encryption Strategy → Encrypt Key, and copy it here (FEISHU_ALLOW_TOKEN_ONLY=true accepts unsigned requests instead, which anyone with the verification token can forge)',
      );
    } else if (values.FEISHU_ENCRYPT_KEY === undefined) {
      requireWith('FEISHU_VERIFICATION_TOKEN', 'when FEISHU_ALLOW_TOKEN_ONLY=true and FEISHU_ENCRYPT_KEY is not set (Events & Callbacks → Encryption Strategy → Verification Token)');
    }
  }
  if (values.PRICE_INPUT_PER_M !== undefined) requireWith('PRICE_OUTPUT_PER_M', 'when PRICE_INPUT_PER_M is set');
  if (values.PRICE_OUTPUT_PER_M !== undefined) requireWith('PRICE_INPUT_PER_M', 'when PRICE_OUTPUT_PER_M is set');
  if (values.FOLLOWUP_PRICE_INPUT_PER_M !== undefined) requireWith('FOLLOWUP_PRICE_OUTPUT_PER_M', 'when FOLLOWUP_PRICE_INPUT_PER_M is set');
  if (values.FOLLOWUP_PRICE_OUTPUT_PER_M !== undefined) requireWith('FOLLOWUP_PRICE_INPUT_PER_M', 'when FOLLOWUP_PRICE_OUTPUT_PER_M is set');
  if (values.RESEARCH_TOOLS_CHANNELS !== undefined) requireWith('RESEARCH_TOOLS_FILE', 'when RESEARCH_TOOLS_CHANNELS is set');
  let researchTools: ResearchTools | undefined;
  if (values.RESEARCH_TOOLS_FILE !== undefined) {
    try {
      researchTools = loadResearchTools(values.RESEARCH_TOOLS_FILE, values.RESEARCH_TOOLS_CHANNELS, values.RESEARCH_BACKEND === 'deep-search-agent' ? 'deep-search-agent' : values.RESEARCH_MODEL);
    } catch (err) {
      if (!(err instanceof ResearchToolsError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    dashscope: {
      apiKey: values.DASHSCOPE_API_KEY,
      baseUrl: values.DASHSCOPE_BASE_URL,
      idleTimeoutMs: values.RESEARCH_IDLE_TIMEOUT_SECONDS * 1000,
    },
    research: {
      backend: values.RESEARCH_BACKEND,
      model: values.RESEARCH_MODEL,
      agentId: values.DEEP_SEARCH_AGENT_ID,
      agentVersion: values.DEEP_SEARCH_AGENT_VERSION,
      format: values.REPORT_FORMAT,
      clarify: !values.SKIP_CLARIFICATION,
      maxAttempts: values.RESEARCH_MAX_ATTEMPTS,
    },
    limits: {
      maxConcurrent: values.MAX_CONCURRENT_RESEARCH,
      perUser: values.MAX_RESEARCH_PER_USER,
      dailyPerUser: values.DAILY_RESEARCH_LIMIT_PER_USER,
      allowedChannels: values.ALLOWED_CHANNELS,
      allowedUsers: values.ALLOWED_USERS,
      answerBy: values.CLARIFY_ANSWER_BY,
    },
    language: values.BOT_LANGUAGE,
    slack:
      values.SLACK_BOT_TOKEN === undefined
        ? undefined
        : {
            botToken: values.SLACK_BOT_TOKEN,
            appToken: values.SLACK_APP_TOKEN,
            signingSecret: values.SLACK_SIGNING_SECRET,
            apiUrl: values.SLACK_API_URL,
          },
    feishu:
      values.FEISHU_APP_ID === undefined || values.FEISHU_APP_SECRET === undefined
        ? undefined
        : {
            appId: values.FEISHU_APP_ID,
            appSecret: values.FEISHU_APP_SECRET,
            domain: values.FEISHU_DOMAIN,
            connection: values.FEISHU_CONNECTION,
            encryptKey: values.FEISHU_ENCRYPT_KEY,
            verificationToken: values.FEISHU_VERIFICATION_TOKEN,
            allowTokenOnly: values.FEISHU_ALLOW_TOKEN_ONLY,
            docShare: values.FEISHU_DOC_SHARE,
            docFolderToken: values.FEISHU_DOC_FOLDER_TOKEN,
          },
    storePath: values.STORE_URL.startsWith('sqlite:') ? values.STORE_URL.slice('sqlite:'.length) : '',
    redisUrl: values.STORE_URL.startsWith('sqlite:') ? undefined : values.STORE_URL,
    drainSeconds: values.DRAIN_SECONDS,
    port: values.PORT,
    logLevel: values.LOG_LEVEL,
    reportsDir: values.REPORTS_DIR,
    price: pricePair(values.PRICE_INPUT_PER_M, values.PRICE_OUTPUT_PER_M),
    monthlyBudgetYuan: values.MONTHLY_BUDGET_YUAN,
    publicUrl: values.PUBLIC_URL,
    reportPageTtlDays: values.REPORT_PAGE_TTL_DAYS,
    followup: {
      model: values.FOLLOWUP_MODEL,
      limitPerHour: values.FOLLOWUP_LIMIT_PER_HOUR,
      price: pricePair(values.FOLLOWUP_PRICE_INPUT_PER_M, values.FOLLOWUP_PRICE_OUTPUT_PER_M),
    },
    researchTools,
  };
}

/** A price when both halves are set (the checks above refuse one without the other). */
function pricePair(inputPerM: number | undefined, outputPerM: number | undefined): Config['price'] {
  return inputPerM !== undefined && outputPerM !== undefined ? { inputPerM, outputPerM } : undefined;
}

export const MISSING_API_KEY =
  'DASHSCOPE_API_KEY is not set. Create a key in the Model Studio console (Beijing region) and run:\n' +
  '  export DASHSCOPE_API_KEY=sk-…\n' +
  'To try without a key: run `npm run fake-dashscope` and set DASHSCOPE_BASE_URL to the address it prints, with any DASHSCOPE_API_KEY.';

/** Names and examples of every variable, for `.env.example` checks. */
export const VARIABLES: readonly VariableName[] = Object.keys(SPECS) as VariableName[];
