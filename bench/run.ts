/** `npm run bench`: prints figures measured against local fakes, in this one process (the compiled bot's memory: in its own). Figures, not pass/fail. */
import { ackLatency, editBudget, memory, overhead } from './load.js';
import { compiledRows } from './compiled.js';
import { benchParse } from './parse.js';
import { streamingRows } from './streaming.js';
import { ackLatencyOnRedis, redisSkipped, storeRows } from './stores.js';

const rows: [string, string, string][] = [];
const ms = (n: number) => `${n.toFixed(1)} ms`;

const parse = benchParse();
rows.push([
  `CPU to parse + map one detailed stream (${parse.frames} frames, ${(parse.bytes / 1024).toFixed(0)} KiB)`,
  `p50 ${ms(parse.p50)}, max ${ms(parse.max)}`,
  '< 50 ms',
]);

const o = await overhead();
rows.push([`End of DashScope stream → last report message accepted (${o.runs} runs)`, `p50 ${ms(o.lagP50)}, p99 ${ms(o.lagP99)}`, '< 1 s']);
rows.push(['End-to-end wall time / raw stream duration', `p50 ${o.ratioP50.toFixed(2)}×`, '≈ 1']);

const a = await ackLatency();
rows.push([`Event acknowledgement while ${a.streaming} runs stream, SQLite store`, `p50 ${ms(a.p50)}, p99 ${ms(a.p99)}`, 'p99 < 100 ms']);
const ar = await ackLatencyOnRedis();
rows.push([
  `Event acknowledgement while ${ar?.streaming ?? a.streaming} runs stream, Redis store + BullMQ queue`,
  ar ? `p50 ${ms(ar.p50)}, p99 ${ms(ar.p99)}` : redisSkipped(),
  'p99 < 100 ms',
]);
rows.push(...(await storeRows()));

const e = await editBudget();
rows.push([`chat.update per minute at peak, 20 runs at once${e.finished ? '' : ' (not all finished)'}`, `${e.peak}/min, ${e.rateLimited} × 429, ${e.refused} refused`, '≤ 50/min, 0 × 429']);
rows.push(...(await streamingRows()));

const m = await memory();
rows.push([`Resident memory, ${m.streamed} runs streaming at once (fakes in-process)`, `peak ${m.peakMb.toFixed(0)} MB (start ${m.baselineMb.toFixed(0)} MB)`, '< 300 MB']);
rows.push([`Event-loop delay during those ${m.streamed} runs`, `p99 ${ms(m.loopP99Ms)}`, '< 50 ms']);

const c = await compiledRows();
rows.push(...c.rows);

const width = Math.max(...rows.map((r) => r[0].length));
process.stdout.write(`${'figure'.padEnd(width)} | measured | target\n${'-'.repeat(width)}-|----------|-------\n`);
for (const [name, value, target] of rows) process.stdout.write(`${name.padEnd(width)} | ${value} | ${target}\n`);
process.stdout.write(`\n${c.note}\n`);
process.exit(0);
