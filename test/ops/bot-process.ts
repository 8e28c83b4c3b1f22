import { spawn, type ChildProcess } from 'node:child_process';

/** The real bot (`npm start`'s entry point) as a child process, against the fakes, over one SQLite file. */
export class BotProcess {
  port = 0;
  private child: ChildProcess | undefined;

  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<this> {
    // One process (not the tsx wrapper, which would leave its child running after a SIGKILL).
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, ...this.env, PORT: '0', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
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

  async kill(): Promise<void> {
    const child = this.child!;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}
