import { z } from 'zod';

/**
 * Every environment variable the bot reads: its schema, an example and its default. Read only by config.ts, the
 * one place the environment is read; `.env.example` lists them all (a test checks).
 */

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'is not a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const yuan = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'is not an amount in yuan')
  .transform(Number)
  .pipe(z.number().positive('must be more than 0'));
const httpUrl = z.url({ protocol: /^https?$/, error: 'is not an http(s) URL' });
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

export interface Spec {
  schema: z.ZodType;
  example: string;
  default?: string;
  secret?: boolean;
}

export const SPECS = {
  DASHSCOPE_API_KEY: { schema: z.string().min(1), example: 'sk-…', secret: true },
  DASHSCOPE_BASE_URL: { schema: httpUrl, example: 'https://dashscope.aliyuncs.com', default: 'https://dashscope.aliyuncs.com' },
  RESEARCH_BACKEND: {
    schema: z.enum(['qwen-deep-research', 'deep-search-agent']),
    example: 'qwen-deep-research',
    default: 'qwen-deep-research',
  },
  RESEARCH_MODEL: { schema: z.string().min(1), example: 'qwen-deep-research', default: 'qwen-deep-research' },
  DEEP_SEARCH_AGENT_ID: { schema: z.string().min(1), example: 'aid-0123456789abcdef' },
  DEEP_SEARCH_AGENT_VERSION: { schema: z.string().min(1), example: 'release', default: 'release' },
  REPORT_FORMAT: { schema: z.enum(['detailed', 'summary']), example: 'detailed', default: 'detailed' },
  SKIP_CLARIFICATION: { schema: bool, example: 'false', default: 'false' },
  RESEARCH_IDLE_TIMEOUT_SECONDS: { schema: int(10, 3600), example: '300', default: '300' },
  RESEARCH_MAX_ATTEMPTS: { schema: int(1, 5), example: '2', default: '2' },
  MAX_CONCURRENT_RESEARCH: { schema: int(1, 500), example: '3', default: '3' },
  MAX_RESEARCH_PER_USER: { schema: int(1, 100), example: '1', default: '1' },
  DAILY_RESEARCH_LIMIT_PER_USER: { schema: int(0, 10_000), example: '5', default: '0' },
  ALLOWED_CHANNELS: { schema: list, example: 'C0123ABCD,oc_1a2b3c', default: '' },
  ALLOWED_USERS: { schema: list, example: 'U0123ABCD,ou_1a2b3c', default: '' },
  CLARIFY_ANSWER_BY: { schema: z.enum(['requester', 'anyone']), example: 'requester', default: 'requester' },
  BOT_LANGUAGE: { schema: z.enum(['auto', 'en', 'zh']), example: 'auto', default: 'auto' },
  SLACK_BOT_TOKEN: { schema: z.string().startsWith('xoxb-', 'must start with xoxb-'), example: 'xoxb-…', secret: true },
  SLACK_APP_TOKEN: { schema: z.string().startsWith('xapp-', 'must start with xapp-'), example: 'xapp-…', secret: true },
  SLACK_SIGNING_SECRET: { schema: z.string().min(8, 'is too short'), example: '8f742231b10e8888abcd99yyyzzz85a5', secret: true },
  SLACK_API_URL: { schema: httpUrl, example: 'https://slack.com/api/', default: 'https://slack.com/api/' },
  FEISHU_APP_ID: { schema: z.string().startsWith('cli_', 'must start with cli_'), example: 'cli_a1b2c3d4e5f6' },
  FEISHU_APP_SECRET: { schema: z.string().min(1), example: '…', secret: true },
  FEISHU_DOMAIN: {
    schema: z.union([z.enum(['feishu', 'lark']), httpUrl], { error: 'is neither feishu, lark nor an http(s) URL' }),
    example: 'feishu',
    default: 'feishu',
  },
  FEISHU_CONNECTION: { schema: z.enum(['websocket', 'webhook']), example: 'websocket', default: 'websocket' },
  FEISHU_ENCRYPT_KEY: { schema: z.string().min(1), example: '…', secret: true },
  FEISHU_VERIFICATION_TOKEN: { schema: z.string().min(1), example: '…', secret: true },
  FEISHU_ALLOW_TOKEN_ONLY: { schema: bool, example: 'false', default: 'false' },
  FEISHU_DOC_SHARE: { schema: z.enum(['chat', 'tenant']), example: 'chat', default: 'chat' },
  FEISHU_DOC_FOLDER_TOKEN: { schema: z.string().regex(/^[A-Za-z0-9_-]+$/, 'is not a folder token (the last part of the folder URL)'), example: 'fldcnAbCdEf0123456789' },
  STORE_URL: {
    schema: z.string().regex(/^(sqlite:.+|rediss?:\/\/.+)$/, 'must be sqlite:<path> or redis://HOST:PORT/DB (rediss:// for TLS)'),
    example: 'sqlite:data/bot.db',
    default: 'sqlite:data/bot.db',
    // A Redis URL may carry a password.
    secret: true,
  },
  DRAIN_SECONDS: { schema: int(0, 1800), example: '25', default: '25' },
  PORT: { schema: int(0, 65535), example: '3000', default: '3000' },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    example: 'info',
    default: 'info',
  },
  REPORTS_DIR: { schema: z.string().min(1), example: 'reports', default: 'reports' },
  PRICE_INPUT_PER_M: { schema: yuan, example: '54' },
  PRICE_OUTPUT_PER_M: { schema: yuan, example: '163' },
  MONTHLY_BUDGET_YUAN: { schema: yuan, example: '500' },
  PUBLIC_URL: { schema: httpUrl, example: 'https://research-bot.example.com' },
  REPORT_PAGE_TTL_DAYS: { schema: int(1, 36_500), example: '90' },
  FOLLOWUP_MODEL: { schema: z.string().regex(/^[\w.-]+$/, 'is not a model name'), example: 'qwen-plus', default: 'qwen-plus' },
  FOLLOWUP_LIMIT_PER_HOUR: { schema: int(1, 10_000), example: '20', default: '20' },
  FOLLOWUP_PRICE_INPUT_PER_M: { schema: yuan, example: '0.8' },
  FOLLOWUP_PRICE_OUTPUT_PER_M: { schema: yuan, example: '2' },
  RESEARCH_TOOLS_FILE: { schema: z.string().min(1), example: 'research-tools.json' },
  RESEARCH_TOOLS_CHANNELS: { schema: z.string().min(1), example: 'C0123456789,oc_0123456789abcdef' },
} satisfies Record<string, Spec>;

