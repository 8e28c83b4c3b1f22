import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Progress } from '../../src/core/progress.js';
import { buildReport } from '../../src/core/report.js';
import type { View } from '../../src/core/ports/chat.js';
import { TerminalPlatform } from '../../src/platforms/terminal/output.js';

/** OSC 0 (window title), OSC 52 (clipboard), clear screen, cursor moves, C1 CSI, carriage return, BEL. */
const HOSTILE = 'q\x1b]0;pwned\x07\x1b]52;c;ZWNobyBoaQ==\x1b\\\x1b[2J\x1b[3A\x1b[1;1H\x9b2J\rx\x07y\x1bc end';

const clock = () => new Date('2026-03-04T10:00:00Z');

function terminal(isTTY: boolean, dir = mkdtempSync(join(tmpdir(), 'drb-term-'))) {
  let out = '';
  const stream = { isTTY, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
  return { platform: new TerminalPlatform(stream, dir, { question() {}, finished() {} }, clock), output: () => out, dir };
}

function progress(query: string): View {
  const p: Progress = {
    phase: 'searching',
    plan: '',
    rounds: [{ round: 1, goal: '', query, sites: 2, links: [], finished: false }],
    sources: 2,
    answerChars: 0,
    draft: '',
    references: [],
    startedAt: 0,
    now: 1000,
  };
  return { kind: 'progress', lang: 'en', topic: HOSTILE, state: 'researching', progress: p };
}

describe('terminal output', () => {
  it('prints text from the model or a person without control characters, keeping its own redraw sequences', async () => {
    const { platform, output } = terminal(true);
    await platform.post('t', { kind: 'notice', lang: 'en', text: `notice ${HOSTILE}` });
    await platform.post('t', { kind: 'clarify', lang: 'en', topic: 't', state: 'awaiting_answer', question: `question ${HOSTILE}\nline two`, open: true });
    await platform.post('t', progress('first'));
    await platform.update('t', 'progress', progress(`query ${HOSTILE}\nsecond line`), false);
    await platform.update('t', 'progress', progress('third'), false);
    const out = output();
    expect(out).toContain('notice qxy end');
    expect(out).toContain('question qxy end');
    expect(out).toContain('query qxy end');
    // The bot's redraw, up over the last block: four rows, as the query took two.
    expect(out.match(/\x1b\[\d+F\x1b\[J/g)).toEqual(['\x1b[4F\x1b[J']);
    const withoutRedraw = out.replace(/\x1b\[\d+F\x1b\[J/g, '');
    expect(withoutRedraw).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it('prints one plain line per change when piped', async () => {
    const { platform, output } = terminal(false);
    await platform.post('t', progress(`query ${HOSTILE}`));
    expect(output()).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(output()).toContain('query qxy end');
  });
});

describe('terminal reports', () => {
  const report = (body: string) => buildReport({ answer: `# Same title\n\n${body}`, references: [], topic: 't' });

  it('reports with the same title on the same day do not overwrite each other', async () => {
    const { platform, dir } = terminal(false);
    const post = (p: typeof platform, r: ReturnType<typeof report>) => p.postReportPart('t', p.reportParts('t', r)[0]!);
    await post(platform, report('first'));
    // Each run has its own platform; three finish at once.
    await Promise.all(['second', 'third', 'fourth'].map((b) => post(terminal(false, dir).platform, report(b))));
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['2026-03-04-same-title-2.md', '2026-03-04-same-title-3.md', '2026-03-04-same-title-4.md', '2026-03-04-same-title.md']);
    const bodies = files.map((f) => readFileSync(join(dir, f), 'utf8'));
    for (const b of ['first', 'second', 'third', 'fourth']) expect(bodies.filter((c) => c.includes(b))).toHaveLength(1);
  });
});
