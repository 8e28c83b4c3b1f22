#!/usr/bin/env node
/**
 * `npm run build`: compiles src/ to dist/ with tsc (tsconfig.build.json) and records what it was built from.
 * `node scripts/build.mjs --if-stale` (npm's prestart/preresearch): builds only when dist/ is missing or stale,
 * and returns at once otherwise, so `npm start` still ends up as one `node dist/main.js` process.
 *
 * Stale means: a file under src/ was added, removed or modified (path, size, mtime), or package-lock.json or a
 * tsconfig changed (content), since the last successful build. The fingerprint is taken before tsc runs, so an
 * edit made during a build makes the next start build again.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const stampFile = join(dist, '.build-stamp.json');
const ENTRY_POINTS = ['main.js', 'cli.js'];

function walk(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** What a build depends on: every file under src/ by path, size and mtime; the lock file and tsconfigs by content. */
function fingerprint() {
  const files = {};
  for (const path of walk(src).sort()) {
    const s = statSync(path);
    files[relative(root, path)] = `${s.size}:${Math.trunc(s.mtimeMs)}`;
  }
  for (const name of ['package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
    const path = join(root, name);
    files[name] = existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16) : 'missing';
  }
  return files;
}

/** Why dist/ must be built, or undefined when it is up to date. */
function staleness(now) {
  if (!ENTRY_POINTS.every((f) => existsSync(join(dist, f)))) return 'dist/ is missing';
  let built;
  try {
    built = JSON.parse(readFileSync(stampFile, 'utf8')).files;
  } catch {
    return 'dist/ has no build stamp';
  }
  for (const [path, v] of Object.entries(now)) if (built[path] !== v) return `${path} ${built[path] === undefined ? 'is new' : 'changed'}`;
  for (const path of Object.keys(built)) if (!(path in now)) return `${path} was removed`;
  return undefined;
}

/** Compiled files whose source is gone (a renamed or deleted module) would otherwise stay importable. */
function removeOrphans() {
  if (!existsSync(dist)) return;
  for (const path of walk(dist)) {
    const m = /^(.*)\.(js|js\.map|d\.ts)$/.exec(relative(dist, path));
    if (m && !existsSync(join(src, `${m[1]}.ts`))) rmSync(path);
  }
}

function build(reason) {
  const now = fingerprint();
  let tsc;
  try {
    tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    if (ENTRY_POINTS.every((f) => existsSync(join(dist, f)))) {
      process.stderr.write(`build: ${reason}, but TypeScript is not installed (npm ci --omit=dev?); running the existing dist/\n`);
      return 0;
    }
    process.stderr.write('build: TypeScript is not installed; run `npm ci` (with dev dependencies), then `npm run build`\n');
    return 1;
  }
  process.stderr.write(`build: ${reason}; compiling src/ → dist/ …\n`);
  const started = Date.now();
  rmSync(stampFile, { force: true });
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    process.stderr.write(`build: tsc failed (${r.status ?? r.signal}); dist/ not marked as built\n`);
    return r.status || 1;
  }
  removeOrphans();
  writeFileSync(stampFile, `${JSON.stringify({ builtAt: new Date().toISOString(), node: process.version, files: now }, null, 1)}\n`);
  process.stderr.write(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

const ifStale = process.argv.includes('--if-stale');
const reason = ifStale ? staleness(fingerprint()) : 'npm run build';
process.exit(reason === undefined ? 0 : build(reason));
