import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const core = fileURLToPath(new URL('../../src/core/', import.meta.url));
const FORBIDDEN = [/^@slack\//, /^@larksuiteoapi\//, /^undici$/, /^node:https?$/, /^https?$/, /^ws$/, /^eventsource-parser$/, /^pino$/];

describe('src/core boundary', () => {
  it('imports no chat SDK, no HTTP client or server', () => {
    const files = readdirSync(core).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const src = readFileSync(core + f, 'utf8');
      const specifiers = [...src.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
      for (const s of specifiers) {
        expect(FORBIDDEN.some((re) => re.test(s)), `${f} imports ${s}`).toBe(false);
        if (s.startsWith('.')) expect(s.startsWith('../platforms/') && !s.endsWith('platform.js'), `${f} imports ${s}`).toBe(false);
      }
    }
  });
});
