import { spawn, type ChildProcess } from 'node:child_process';
import { tempDbPath } from '../core/harness.js';
import { FakeDashScope, type FakeDashScopeOptions } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';

/** The real bot (`npm start`'s entry point) as a child process, against the fakes, over one SQLite file. */
export class BotProcess {
  port = 0;
  private child: ChildProcess | undefined;
  private out = '';

  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<this> {
    // One process (not the tsx wrapper, which would leave its child running after a SIGKILL).
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, ...this.env, PORT: '0', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        this.out += d.toString();
        const m = /"port":(\d+).*"bot started"/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`bot exited with ${code}: ${out}`)));
    });
    return this;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}/slack/events`;
  }

  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const child = this.child!;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  /** Everything the process wrote on stdout so far (JSON log lines). */
  get output(): string {
    return this.out;
  }
}

/** Fake DashScope and Slack, and a way to boot the real bot (again) over one SQLite file against them. */
export interface ProcessWorld {
  ds: FakeDashScope;
  slack: FakeSlack;
  boot(): Promise<BotProcess>;
  /** Kills every bot booted, then closes the fakes. */
  close(): Promise<void>;
}

export async function processWorld(env: Record<string, string> = {}, ds: FakeDashScopeOptions = {}): Promise<ProcessWorld> {
  const fake = await new FakeDashScope(ds).start();
  const slack = await new FakeSlack().start();
  const bots: BotProcess[] = [];
  const all = {
    DASHSCOPE_API_KEY: 'sk-test',
    DASHSCOPE_BASE_URL: fake.url,
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_API_URL: slack.apiUrl,
    STORE_URL: `sqlite:${tempDbPath()}`,
    ...env,
  };
  return {
    ds: fake,
    slack,
    async boot() {
      const b = await new BotProcess(all).start();
      bots.push(b);
      return b;
    },
    async close() {
      for (const b of bots) await b.kill();
      await slack.close();
      await fake.close();
    },
  };
}
