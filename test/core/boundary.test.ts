import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The dependency arrows of DESIGN.md, checked on every file under src/ and every import form (static, type-only,
 * side-effect, re-export, dynamic). Layers:
 * - core: platform-agnostic; imports only core and the shared Markdown helpers, and no package but marked and p-queue.
 * - core/ports: the interfaces the core calls out through; what store and research may see of the core.
 * - common: helpers every side may use; imports nothing of the project.
 * - store, research: implement ports; import only core/ports and common (research never config).
 * - platforms/<name>: import core, common and their own folder (plus the shared platform helpers), never another platform.
 * - the composition root (src/*.ts) may import anything.
 */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier a source file names. */
export function specifiers(source: string): string[] {
  const forms = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return forms.flatMap((re) => [...source.matchAll(re)].map((m) => m[1]!));
}

type Target = { kind: 'package'; name: string } | { kind: 'file'; path: string };

function target(file: string, spec: string): Target {
  if (!spec.startsWith('.')) return { kind: 'package', name: spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]! };
  return { kind: 'file', path: relative(SRC, normalize(join(dirname(file), spec))).replace(/\.js$/, '.ts') };
}

const layer = (path: string): string => {
  const [top, second] = path.split('/');
  if (!second) return 'root';
  if (top === 'core') return second === 'ports' ? 'core/ports' : 'core';
  if (top === 'platforms') return path.split('/').length > 2 ? `platforms/${second}` : 'platforms';
  return top!;
};

const PACKAGES: Record<string, RegExp> = {
  core: /^(marked|p-queue|node:(crypto|util))$/,
  'core/ports': /^$/,
  common: /^(marked|undici|node:.*)$/,
  store: /^(better-sqlite3|ioredis|bullmq|node:.*)$/,
  research: /^(undici|eventsource-parser|zod|node:.*)$/,
};

/** Which project layers a layer may import. */
function allowed(from: string, to: string): boolean {
  if (from === 'root') return true;
  if (to === 'root') return false;
  if (from === to) return true;
  switch (from) {
    case 'core':
      return to === 'core/ports' || to === 'common';
    case 'core/ports':
      return to === 'core';
    case 'common':
      return false;
    case 'store':
    case 'research':
      return to === 'core/ports' || to === 'common';
    default:
      // A platform: the core, common helpers, the shared platform helpers; not store, research or another platform.
      return from.startsWith('platforms') && (to === 'core' || to === 'core/ports' || to === 'common' || to === 'platforms');
  }
}

export function violations(file: string, source: string): string[] {
  const from = layer(relative(SRC, file));
  const out: string[] = [];
  for (const spec of specifiers(source)) {
    const t = target(file, spec);
    if (t.kind === 'package') {
      const rule = PACKAGES[from];
      if (rule && !rule.test(t.name)) out.push(`${relative(SRC, file)} (${from}) imports the package ${t.name}`);
    } else if (!allowed(from, layer(t.path))) {
      out.push(`${relative(SRC, file)} (${from}) imports ${t.path} (${layer(t.path)})`);
    }
  }
  return out;
}

describe('dependency boundaries', () => {
  it('every import under src/ follows the arrows', () => {
    const all = files(SRC);
    expect(all.length).toBeGreaterThan(40);
    expect(all.flatMap((f) => violations(f, readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('catches every import form, in nested folders', () => {
    const core = join(SRC, 'core/ports/x.ts');
    const research = join(SRC, 'research/deep/x.ts');
    expect(violations(core, `import '../../platforms/slack/app.js';`)).toHaveLength(1);
    expect(violations(core, `export { a } from '../../store/sqlite.js';`)).toHaveLength(1);
    expect(violations(core, `const m = await import('@slack/bolt');`)).toHaveLength(1);
    expect(violations(core, `import type {\n  A,\n} from 'undici';`)).toHaveLength(1);
    expect(violations(research, `import { loadConfig } from '../../config.js';`)).toHaveLength(1);
    expect(violations(research, `import { Engine } from '../../core/engine.js';`)).toHaveLength(1);
    expect(violations(join(SRC, 'platforms/slack/x.ts'), `import { FeishuApi } from '../feishu/api.js';`)).toHaveLength(1);
    expect(violations(join(SRC, 'platforms/slack/x.ts'), `import { SqliteStore } from '../../store/sqlite.js';`)).toHaveLength(1);
    expect(violations(join(SRC, 'platforms/slack/x.ts'), `import { clip } from '../../core/progress-text.js';`)).toEqual([]);
  });
});
