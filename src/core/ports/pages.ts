import type { CitationCheck } from '../citations.js';
import type { Reference, Usage } from './research.js';
import type { Lang } from './thread.js';

/** What a report page shows: the report, its sources and how they were checked, the research that led to it. */
export interface ReportPage {
  title: string;
  topic: string;
  lang: Lang;
  /** The report body as Markdown, citations linked (the link policy already applied). */
  body: string;
  references: Reference[];
  check: CitationCheck;
  plan: string;
  rounds: { round: number; query: string; goal: string; sites: number }[];
  usage?: Usage;
  cost?: string;
  createdAt: number;
}

/** Publishes report pages (PUBLIC_URL): returns the page's address. */
export interface ReportPages {
  publish(page: ReportPage): Promise<string>;
}
