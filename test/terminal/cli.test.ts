import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function run(args: string[], env: Record<string, string>, stdin = ''): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), ...args], {
      cwd: env.CWD,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.end(stdin);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

let fake: FakeDashScope;
let cwd: string;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
  cwd = mkdtempSync(join(tmpdir(), 'drb-cli-'));
});
afterEach(() => fake.close());

describe('npm run research', () => {
  it('runs both steps against the fake and writes the whole report with every reference', async () => {
    const { code, out } = await run(['AI in education'], { CWD: cwd, DASHSCOPE_API_KEY: 'sk-test', DASHSCOPE_BASE_URL: fake.url }, 'personalised learning\n');
    expect(code).toBe(0);
    expect(out).toContain(fake.question);
    expect(fake.requests[1]!.body.input?.messages?.[2]?.content).toBe('personalised learning');
    const [file] = readdirSync(join(cwd, 'reports'));
    expect(file).toMatch(/^\d{4}-\d{2}-\d{2}-personalised-learning-with-ai\.md$/);
    expect(out).toContain(`reports/${file}`);
    const report = readFileSync(join(cwd, 'reports', file!), 'utf8');
    // The whole answer text is there (citations become links), and every reference URL.
    for (const line of fake.script.report.split('\n').filter((l) => l && !l.includes('[['))) expect(report).toContain(line);
    for (const r of fake.script.references) expect(report).toContain(r.url);
    expect(report).toContain('## References');
    // The run's estimated cost at qwen-deep-research's list price, in the progress and the report's closing line.
    expect(out).toMatch(/Research finished\..*≈ ¥\d+\.\d\d/);
    expect(report).toMatch(/estimated cost ¥\d+\.\d\d/);
  }, 30_000);

  it('prints the model\'s and the person\'s text without control characters', async () => {
    fake.question = 'Which one?\x1b]0;pwned\x07\x1b]52;c;ZWNobyBoaQ==\x07\x1b[2J\x1b[3A\r\x9b1;1H done';
    const { code, out } = await run(['--answer', 'mine\x1b[2J\x1b]0;t\x07 too', 'topic'], { CWD: cwd, DASHSCOPE_API_KEY: 'sk-test', DASHSCOPE_BASE_URL: fake.url });
    expect(code).toBe(0);
    expect(out).toContain('Which one? done');
    expect(out).toContain('> mine too');
    expect(out).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  }, 30_000);

  it('a second report with the same title on the same day gets its own file', async () => {
    const env = { CWD: cwd, DASHSCOPE_API_KEY: 'sk-test', DASHSCOPE_BASE_URL: fake.url };
    expect((await run(['--no-clarify', 'topic'], env)).code).toBe(0);
    const second = await run(['--no-clarify', 'topic'], env);
    expect(second.code).toBe(0);
    const files = readdirSync(join(cwd, 'reports')).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^\d{4}-\d{2}-\d{2}-personalised-learning-with-ai-2\.md$/);
    expect(second.out).toContain(`reports/${files[0]}`);
  }, 30_000);

  it('--no-clarify and --format summary go straight to the research', async () => {
    const { code } = await run(['--no-clarify', '--format', 'summary', 'topic'], { CWD: cwd, DASHSCOPE_API_KEY: 'sk-test', DASHSCOPE_BASE_URL: fake.url });
    expect(code).toBe(0);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.body.parameters).toMatchObject({ enable_feedback: false, output_format: 'model_summary_report' });
  }, 30_000);

  it('says exactly what to set when the key is missing', async () => {
    const { code, err } = await run(['topic'], { CWD: cwd });
    expect(code).toBe(2);
    expect(err).toContain('DASHSCOPE_API_KEY is not set');
    expect(err).toContain('npm run fake-dashscope');
  }, 30_000);

  it('tells the person when the research fails', async () => {
    fake.enqueue({ kind: 'http-error', status: 401, code: 'InvalidApiKey', message: 'Invalid API-key provided.' });
    const { code, out } = await run(['--answer', 'x', 'topic'], { CWD: cwd, DASHSCOPE_API_KEY: 'sk-bad', DASHSCOPE_BASE_URL: fake.url });
    expect(code).toBe(1);
    expect(out).toContain('DashScope rejected the API key');
  }, 30_000);
});
