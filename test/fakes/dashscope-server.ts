/** `npm run fake-dashscope`: the fake DashScope on a fixed port, so a person can try the bot without a key. */
import { FakeDashScope } from './dashscope.js';

const port = Number(process.argv[2] ?? 8089);
const fake = await new FakeDashScope({ frameDelayMs: 25 }).start(port);
process.stdout.write(
  `Fake DashScope listening on ${fake.url}\n` +
    `Try:  DASHSCOPE_BASE_URL=${fake.url} DASHSCOPE_API_KEY=sk-fake npm run research -- "AI in education"\n`,
);
process.on('SIGINT', () => void fake.close().then(() => process.exit(0)));
