/** `npm start`: the chat bot. */
import { pino } from 'pino';
import { startBot } from './bot.js';
import { ConfigError, loadConfig, MISSING_API_KEY } from './config.js';

const NO_PLATFORM = `No chat platform is configured. Set one of:
  Slack, Socket Mode: SLACK_BOT_TOKEN=xoxb-… and SLACK_APP_TOKEN=xapp-…
  Slack, HTTP mode:   SLACK_BOT_TOKEN=xoxb-… and SLACK_SIGNING_SECRET=… (events at POST /slack/events)
  Feishu/Lark:        FEISHU_APP_ID=cli_… and FEISHU_APP_SECRET=… (long connection; FEISHU_DOMAIN=lark for Lark)
To research from the terminal instead: npm run research -- "your topic"`;

/** Time to close connections after the drain window, before a stuck shutdown is cut short. */
const FORCED_EXIT_AFTER_DRAIN_MS = 15_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (!config.dashscope.apiKey) {
    process.stderr.write(`${MISSING_API_KEY}\n`);
    process.exit(2);
  }
  if (!config.slack && !config.feishu) {
    process.stderr.write(`${NO_PLATFORM}\n`);
    process.exit(2);
  }
  const logger = pino({ level: config.logLevel, redact: ['*.token', '*.apiKey', '*.authorization', 'headers.authorization'] });
  const bot = await startBot(config, { logger });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // DRAIN_SECONDS (default 25) stays under the usual 30 s a supervisor waits before it kills.
    const next = config.redisUrl ? 'handed back to the queue for another process' : 'resumed at the next start';
    logger.info({ signal, drainSeconds: config.drainSeconds }, `shutting down: running research may finish within DRAIN_SECONDS; the rest is ${next}`);
    // Whatever hangs (an unreachable Redis), the process is gone soon after the drain window.
    setTimeout(() => {
      logger.error({ drainSeconds: config.drainSeconds }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, config.drainSeconds * 1000 + FORCED_EXIT_AFTER_DRAIN_MS).unref();
    void bot.stop(config.drainSeconds * 1000).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`Could not start: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
});
