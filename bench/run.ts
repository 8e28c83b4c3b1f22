/** `npm run bench`: prints figures measured against local fakes. Figures, not pass/fail. */
import { benchParse } from './parse.js';

const rows: [string, string, string][] = [];

const parse = benchParse();
rows.push([
  `CPU to parse + map one detailed stream (${parse.frames} frames, ${(parse.bytes / 1024).toFixed(0)} KiB)`,
  `p50 ${parse.p50.toFixed(1)} ms, max ${parse.max.toFixed(1)} ms`,
  '< 50 ms',
]);

const width = Math.max(...rows.map((r) => r[0].length));
process.stdout.write(`${'figure'.padEnd(width)} | measured | target\n${'-'.repeat(width)}-|----------|-------\n`);
for (const [name, value, target] of rows) process.stdout.write(`${name.padEnd(width)} | ${value} | ${target}\n`);
