/** `npm run research -- "topic"`: the whole two-step research in the terminal, over the same engine as the chat bots. */
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, MISSING_API_KEY } from './config.js';
import { Engine } from './core/engine.js';
import { budgetSettings, createBackend } from './backend.js';
import { SqliteStore } from './store/sqlite.js';
import type { Inbound } from './core/ports/chat.js';
import { TerminalPlatform } from './platforms/terminal/output.js';
import { printable } from './platforms/terminal/render.js';

const USAGE = `Usage: npm run research -- [options] "topic"
  --answer TEXT           answer the clarifying question with TEXT instead of asking
  --no-clarify            skip the clarifying question (enable_feedback: false)
  --format summary|detailed   report length (default: REPORT_FORMAT or detailed)`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      answer: { type: 'string' },
      'no-clarify': { type: 'boolean', default: false },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const topic = positionals.join(' ').trim();
  if (values.help || !topic) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (values.format !== undefined && values.format !== 'summary' && values.format !== 'detailed') {
    process.stderr.write(`--format must be summary or detailed, not ${printable(JSON.stringify(values.format))}.\n`);
    return 2;
  }
  const config = loadConfig();
  if (!config.dashscope.apiKey) {
    process.stderr.write(`${MISSING_API_KEY}\n`);
    return 2;
  }

  const store = new SqliteStore(':memory:');
  let answered = false;
  let ask: Promise<void> | undefined;
  let resolveEnd!: (code: number) => void;
  const ended = new Promise<number>((r) => (resolveEnd = r));
  const thread = 'terminal';
  let seq = 0;
  const inbound = (kind: 'mention' | 'reply', text: string): Inbound => ({ platform: 'terminal', kind, thread, eventId: String(++seq), user: 'me', channel: 'terminal', text });

  const platform = new TerminalPlatform(process.stdout, config.reportsDir, {
    question() {
      if (answered) return;
      answered = true;
      ask = readAnswer(values.answer).then((answer) =>
        engine.handle(
          answer
            ? inbound('reply', answer)
            : { platform: 'terminal', kind: 'action', action: 'start-now', thread, eventId: 'start-now', user: 'me', channel: 'terminal' },
        ),
      );
    },
    finished(state, reportPath) {
      if (reportPath) process.stdout.write(`Report written to ${reportPath}\n`);
      resolveEnd(state === 'done' ? 0 : state === 'cancelled' ? 130 : 1);
    },
  });
  const engine = new Engine({
    store,
    backend: createBackend(config),
    platforms: [platform],
    rules: { clarify: config.research.clarify && !values['no-clarify'], answerBy: 'anyone', maxAttempts: 1, language: config.language },
    limits: { maxConcurrent: 1, perUser: 1, dailyPerUser: 0, allowedChannels: [], allowedUsers: [] },
    format: (values.format as 'summary' | 'detailed' | undefined) ?? config.research.format,
    // The estimated cost is shown; the monthly budget belongs to the deployed bot and its store.
    budget: { ...budgetSettings(config), monthlyYuan: undefined },
  });
  process.once('SIGINT', () => {
    process.stdout.write('\nCancelling…\n');
    void engine.handle({ platform: 'terminal', kind: 'action', action: 'cancel', thread, eventId: 'sigint', user: 'me', channel: 'terminal' });
  });
  await engine.handle(inbound('mention', topic));
  const code = await ended;
  await ask;
  await engine.stop();
  await store.close();
  return code;
}

/** The answer to the clarifying question; empty means "start now, use your judgement". */
async function readAnswer(given: string | undefined): Promise<string> {
  if (given !== undefined) {
    process.stdout.write(`> ${printable(given)}\n`);
    return given;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  try {
    return (await rl.question('> ')).trim();
  } catch {
    return ''; // stdin closed without an answer
  } finally {
    rl.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(2);
  },
);
