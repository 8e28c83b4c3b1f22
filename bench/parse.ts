import { advance, startProgress } from '../src/core/progress.js';
import { buildReport } from '../src/core/report.js';
import { QwenMapper } from '../src/research/qwen.js';
import { FrameDecoder } from '../src/research/sse.js';
import type { Reference } from '../src/core/ports/research.js';
import { defaultReferences, researchFrames, sampleReport, sseFrame } from '../test/fakes/dashscope-script.js';

/** A detailed research as DashScope streams it: 15 rounds, a ~25,000-character report in small deltas. */
export function detailedStream(): { bytes: Buffer; frames: number } {
  const frames = researchFrames({
    rounds: 15,
    sitesPerRound: 9,
    chunk: 2,
    report: sampleReport(14, 6),
    references: defaultReferences(30),
    keepAlive: true,
  });
  const text = frames.map((f, i) => (i > 0 ? '\n' : '') + sseFrame(i + 1, f)).join('');
  return { bytes: Buffer.from(text), frames: frames.length };
}

/** CPU time to decode, map, track progress and build the report for one stream, fed in 16 KiB network-sized chunks. */
export function parseOnce(bytes: Buffer): number {
  const start = process.cpuUsage();
  const decoder = new FrameDecoder();
  const mapper = new QwenMapper();
  let progress = startProgress(0);
  let answer = '';
  const refs: Reference[] = [];
  const handle = (json: Record<string, unknown>) => {
    for (const e of mapper.map(json)) {
      progress = advance(progress, e, 0);
      if (e.type === 'answer') answer += e.delta;
      else if (e.type === 'references') refs.push(...e.references);
    }
  };
  for (let i = 0; i < bytes.length; i += 16_384) for (const f of decoder.push(bytes.subarray(i, i + 16_384))) handle(f.json);
  for (const f of decoder.end()) handle(f.json);
  mapper.finish();
  buildReport({ answer, references: refs, topic: 'bench' });
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

export function benchParse(): { frames: number; bytes: number; p50: number; max: number } {
  const { bytes, frames } = detailedStream();
  for (let i = 0; i < 5; i++) parseOnce(bytes); // warm-up
  const times = Array.from({ length: 30 }, () => parseOnce(bytes)).sort((a, b) => a - b);
  return { frames, bytes: bytes.length, p50: times[15]!, max: times.at(-1)! };
}
