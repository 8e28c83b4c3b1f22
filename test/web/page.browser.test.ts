import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../core/harness.js';
import { defaultReferences } from '../fakes/dashscope-script.js';
import { mentionEvent, nextTs, slackWorld, visible, type SlackWorld } from '../slack/harness.js';

/** Debian's Chromium (`.ci/run` installs it); never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = fileURLToPath(new URL('../../test-output/', import.meta.url));
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium for the report-page tests.`);
if (!hasChromium) console.warn(`SKIPPED: the report-page browser tests need ${CHROMIUM} (apt-get install -y chromium).`);

let browser: Browser;
let w: SlackWorld | undefined;
beforeAll(async () => {
  if (!hasChromium) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
afterAll(async () => browser?.close());
afterEach(async () => {
  await w?.close();
  w = undefined;
});

/** A whole research through Slack with PUBLIC_URL set; the address of its page, from the thread. */
async function researchWithPage(script: Parameters<typeof slackWorld>[1] & { report?: string; references?: { url: string; title: string }[] } = {}) {
  const port = await freePort();
  w = await slackWorld({ PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, SKIP_CLARIFICATION: 'true' });
  if (script.report) w.ds.script.report = script.report;
  if (script.references) w.ds.script.references = script.references;
  const ts = nextTs();
  await w.slack.sendEvent(w.endpoint, mentionEvent('solid-state batteries', { ts }));
  await expect.poll(() => w!.slack.files.length, { timeout: 15_000 }).toBe(1);
  const link = w.slack.thread('C1', ts).map(visible).join('\n').match(/http:\/\/127\.0\.0\.1:\d+\/reports\/[A-Za-z0-9_-]{22}/)?.[0];
  expect(link, 'the thread links the report page').toBeDefined();
  return { url: link!, port, ts };
}

describe.skipIf(!hasChromium)('the report page, in headless Chromium', () => {
  it('shows the report, its sources and the research; a citation leads to its source; unknown ids are 404', async () => {
    const { url, port } = await researchWithPage();
    const page = await browser.newPage();
    const res = await page.goto(url);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await page.locator('h1').first().innerText()).toBe('Personalised learning with AI');
    expect(await page.locator('main').innerText()).toContain('This report looks at how AI supports personalised learning');
    expect(await page.locator('.sources li').count()).toBe(4);
    expect(await page.locator('.sources').innerText()).toContain('Source 1');
    expect(await page.locator('.research .round').count()).toBe(3);
    expect(await page.locator('.research').innerText()).toContain('search query for round 2');
    expect(await page.locator('.meta').first().innerText()).toMatch(/tokens · ≈ ¥\d+\.\d\d/);
    await page.locator('main a.cite').first().click();
    expect(new URL(page.url()).hash).toBe('#ref-1');
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: `${OUTPUT}report-page.png`, fullPage: true });
    expect(existsSync(`${OUTPUT}report-page.png`)).toBe(true);
    const missing = await fetch(`http://127.0.0.1:${port}/reports/AAAAAAAAAAAAAAAAAAAAAA`);
    expect(missing.status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/reports/../../etc/passwd`)).status).toBe(404);
    await page.close();
  }, 60_000);

  it('a hostile report renders inert: no script runs, no handler fires, no javascript: link', async () => {
    const title = `T${'x'.repeat(10_000)}`;
    const report = [
      `# ${title} <script>window.pwned = 1</script>`,
      '',
      'Text <img src="x" onerror="window.pwned = 2"> and <a href="javascript:window.pwned=3">click</a> [[1]].',
      '',
      '[me](javascript:window.pwned=4) ![pic](javascript:window.pwned=5) <iframe src="javascript:window.pwned=6"></iframe>',
      '',
      '<svg onload="window.pwned=7"></svg> <style>body{display:none}</style>',
    ].join('\n');
    const references = [{ url: 'javascript:window.pwned=8', title: '<b onmouseover="window.pwned=9">evil</b>' }, ...defaultReferences(1)];
    const { url } = await researchWithPage({ report, references });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    expect(await page.evaluate(() => document.scripts.length)).toBe(0);
    expect(await page.locator('main iframe, main svg, main img, main style').count()).toBe(0);
    expect(await page.locator('[onerror], [onload], [onmouseover]').count()).toBe(0);
    const hrefs = await page.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
    for (const href of hrefs) expect(href).toMatch(/^(https?:|#ref-)/);
    // The text is still there, shown as text.
    expect(await page.locator('main').innerText()).toContain('<img src="x" onerror="window.pwned = 2">');
    for (const link of await page.locator('a').all()) await link.hover();
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(await page.locator('body').isVisible()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
