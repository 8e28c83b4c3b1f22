import type { Reference, ResearchEvent, ResearchPhase, Usage } from './ports/research.js';

export interface Round {
  round: number;
  goal: string;
  query: string;
  sites: number;
  /** The first sites found in the round, to show as its sources. */
  links: { url: string; title: string }[];
  finished: boolean;
}

/** Sites kept per round for display. */
const LINKS_PER_ROUND = 10;

export interface Progress {
  phase: 'starting' | ResearchPhase;
  plan: string;
  rounds: Round[];
  /** Distinct web sites found over all rounds. */
  sources: number;
  answerChars: number;
  /** The answer so far (the report while it is written), and the sources it cites. */
  draft: string;
  references: Reference[];
  usage?: Usage;
  startedAt: number;
  now: number;
}

export function startProgress(now: number): Progress {
  return { phase: 'starting', plan: '', rounds: [], sources: 0, answerChars: 0, draft: '', references: [], startedAt: now, now };
}

/** ResearchEvent → next Progress. Pure: returns a new object and never mutates its input. */
export function advance(p: Progress, e: ResearchEvent, now: number): Progress {
  switch (e.type) {
    case 'phase':
      return { ...p, phase: e.phase, now };
    case 'plan':
      return { ...p, plan: p.plan + e.delta, now };
    case 'round':
      return { ...p, rounds: [...p.rounds, { round: e.round, goal: '', query: '', sites: 0, links: [], finished: false }], now };
    case 'query':
      return updateRound(p, e.round, (r) => ({ ...r, query: r.query + e.delta }), now);
    case 'goal':
      return updateRound(p, e.round, (r) => ({ ...r, goal: r.goal + e.delta }), now);
    case 'sites':
      return {
        ...updateRound(p, e.round, (r) => ({ ...r, sites: r.sites + e.sites.length, links: [...r.links, ...e.sites.map((x) => ({ url: x.url, title: x.title }))].slice(0, LINKS_PER_ROUND) }), now),
        sources: p.sources + e.sites.length,
      };
    case 'round-end':
      return updateRound(p, e.round, (r) => ({ ...r, finished: true }), now);
    case 'answer':
      return { ...p, answerChars: p.answerChars + e.delta.length, draft: p.draft + e.delta, now };
    case 'references':
      return { ...p, references: [...p.references, ...e.references], now };
    case 'usage':
      return { ...p, usage: e.usage, now };
    case 'done':
      return { ...p, usage: e.usage ?? p.usage, now };
    default:
      return p.now === now ? p : { ...p, now };
  }
}

function updateRound(p: Progress, round: number, f: (r: Round) => Round, now: number): Progress {
  const i = p.rounds.findIndex((r) => r.round === round);
  // A round's first event may come before its `round` event: start the round then.
  if (i < 0) return updateRound(advance(p, { type: 'round', round }, now), round, f, now);
  const rounds = p.rounds.slice();
  rounds[i] = f(rounds[i]!);
  return { ...p, rounds, now };
}

export function elapsedSeconds(p: Progress): number {
  return Math.max(0, Math.round((p.now - p.startedAt) / 1000));
}

/** Phase or round changed: a view of the new state should not be coalesced away. */
export function isMilestone(prev: Progress, next: Progress): boolean {
  return prev.phase !== next.phase || prev.rounds.length !== next.rounds.length;
}
