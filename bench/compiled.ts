/**
 * Memory of the compiled bot as production runs it: `node dist/main.js` in its own process (Slack, HTTP mode)
 * against the fakes in this process, beside a floor measured in the same run: a bare node process that imports
 * the packages the bot imports at start for that configuration, and does nothing.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeDashScope } from '../test/fakes/dashscope.js';
import { FakeSlack, TEAM } from '../test/fakes/slack.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const MB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `npm run build` when dist/ is missing or older than src/ (the same check `npm start` makes). */
export function buildIfStale(): void {
  const r = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--if-stale'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

/** Resident memory of one process, in bytes (0 once it is gone). */
export function rss(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `pid` and every process below it. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command name (2nd field) may hold spaces: the parent id is the 2nd field after its closing parenthesis.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // exited meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

const treeRss = (pid: number) => tree(pid).reduce((sum, p) => sum + rss(p), 0);

/**
 * Packages the compiled bot imports before "bot started" with Slack configured: the static imports reachable
 * from dist/main.js and from the Slack adapter, which src/bot.ts imports when Slack is configured.
 */
export function startupPackages(entries = ['main.js', 'platforms/slack/app.js']): string[] {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const queue = entries.map((e) => join(dist, e));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    // Static forms only: `import … from 'x'`, `import 'x'`, `export … from 'x'` (not `import('x')`).
    for (const m of code.matchAll(/^\s*(?:import|export)\s(?:[^'";]*?\sfrom\s)?\s*['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else if (!isBuiltin(spec)) packages.add(spec);
    }
  }
  return [...packages].sort();
}

/** Settings a .env file could add, blanked so only what the bench sets applies (an empty variable counts as unset). */
function blankedSettings(): Record<string, string> {
  const example = readFileSync(join(root, '.env.example'), 'utf8');
  return Object.fromEntries([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => [m[1]!, '']));
}

/** Resolves with the match once `pattern` appears in the process's output. */
function waitFor(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let done = false;
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${out.slice(-2000)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      if (done) return;
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        done = true;
        clearTimeout(timer);
        resolvePromise(m);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!done) reject(new Error(`exited with ${code}: ${out.slice(-2000)}`));
    });
  });
}

/** Ends a process group this bench started (npm and its children included). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spawnOpts: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], detached: true };

/**
 * Idle RSS (median of `samples` fresh processes each) of the floor and of `node dist/main.js`, of the `npm start`
 * tree once, then the bot's RSS peak while `concurrent` runs stream. Idle = after its ready line and a quiet second.
 */
export async function compiledMemory(concurrent = 200, samples = 5) {
  buildIfStale();
  const packages = startupPackages();
  const imports = packages.map((p) => `await import(${JSON.stringify(p)});`).join(' ');
  const ds = await new FakeDashScope({ frameDelayMs: 25 }).start();
  const slack = await new FakeSlack().start();
  const env = () => ({
    ...process.env,
    ...blankedSettings(),
    DASHSCOPE_API_KEY: 'sk-bench',
    DASHSCOPE_BASE_URL: ds.url,
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_API_URL: slack.apiUrl,
    STORE_URL: `sqlite:${join(mkdtempSync(join(tmpdir(), 'drb-bench-')), 'bot.db')}`,
    PORT: '0',
    LOG_LEVEL: 'info',
    SKIP_CLARIFICATION: 'true',
    MAX_CONCURRENT_RESEARCH: String(concurrent),
  });
  /** The floor: the same packages imported, nothing else. */
  const floor = () => spawn(process.execPath, ['--input-type=module', '-e', `${imports} console.log('ready'); setInterval(() => {}, 1e9);`], { ...spawnOpts, cwd: root });
  /** The bot alone, from a directory without a .env. */
  const bot = () => spawn(process.execPath, [join(dist, 'main.js')], { ...spawnOpts, cwd: mkdtempSync(join(tmpdir(), 'drb-bench-')), env: env() });
  const idle = async (child: ChildProcess, ready: RegExp, keep = false) => {
    try {
      const match = await waitFor(child, ready);
      await sleep(1000);
      return { match, rss: rss(child.pid!), tree: treeRss(child.pid!), processes: tree(child.pid!).length };
    } finally {
      if (!keep) await stop(child);
    }
  };
  try {
    const floors: number[] = [];
    const bots: number[] = [];
    for (let i = 0; i < samples; i++) {
      floors.push((await idle(floor(), /ready/)).rss);
      bots.push((await idle(bot(), /"bot started"/)).rss);
    }
    // `npm start` as the README says: npm, then node dist/main.js (the start script execs it, so no shell stays between).
    const npm = await idle(spawn('npm', ['start'], { ...spawnOpts, cwd: root, env: env() }), /"bot started"/).catch((err: Error) => {
      process.stderr.write(`npm start: ${err.message}\n`);
      return undefined;
    });

    const child = bot();
    const started = await idle(child, /"port":(\d+).*"bot started"/, true);
    try {
      let peak = started.rss;
      const sampler = setInterval(() => (peak = Math.max(peak, rss(child.pid!))), 100);
      const endpoint = `http://127.0.0.1:${started.match[1]}/slack/events`;
      const t = (i: number) => `1800000000.${String(i).padStart(6, '0')}`;
      // Each request in its own channel by its own person, so the per-person limit queues none of them.
      await Promise.all(
        Array.from({ length: concurrent }, (_, i) =>
          slack.sendEvent(endpoint, { type: 'app_mention', user: `U${i}`, text: '<@UBOT> a research topic', ts: t(i + 1), channel: `C${i}`, team: TEAM }),
        ),
      );
      const deadline = Date.now() + 30_000;
      while (ds.maxOpen < concurrent && Date.now() < deadline) await sleep(50);
      await sleep(5000);
      clearInterval(sampler);
      return { packages, samples, floorRss: median(floors), idleRss: median(bots), floors, bots, npmTree: npm?.tree, npmProcesses: npm?.processes ?? 0, streamed: ds.maxOpen, peakRss: peak };
    } finally {
      await stop(child);
    }
  } finally {
    await slack.close();
    await ds.close();
  }
}

/** Rows for bench/run.ts's table, and a note naming what the floor imports. */
export async function compiledRows(): Promise<{ rows: [string, string, string][]; note: string }> {
  const m = await compiledMemory();
  const mb = (n: number) => `${(n / MB).toFixed(0)} MB`;
  const rows: [string, string, string][] = [
    [`Idle RSS floor: bare node importing the bot's ${m.packages.length} start-up packages¹, median of ${m.samples}`, `${mb(m.floorRss)} (${m.floors.map(mb).join(', ')})`, ''],
    [`Idle RSS, compiled bot (node dist/main.js, Slack HTTP mode), median of ${m.samples}`, `${mb(m.idleRss)} = ${(m.idleRss / m.floorRss).toFixed(2)}× floor (${m.bots.map(mb).join(', ')})`, '≤ 1.15× floor'],
    [`Compiled bot RSS, ${m.streamed} runs streaming at once (own process)`, `peak ${mb(m.peakRss)}`, '< 300 MB'],
  ];
  if (m.npmTree !== undefined) rows.push([`npm start, whole tree idle (${m.npmProcesses} processes)`, `${mb(m.npmTree)} (node dist/main.js alone: ${mb(m.idleRss)})`, '']);
  return { rows, note: `¹ the floor imports ${m.packages.join(', ')}: what dist/main.js and the Slack adapter import (bench/compiled.ts).` };
}
