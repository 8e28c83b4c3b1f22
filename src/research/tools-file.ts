import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { jsonErrorPlace } from './json-place.js';

/**
 * Private sources for research: MCP servers qwen-deep-research-2025-12-15 may search while it researches,
 * sent as `parameters.research_tools` (the qianwenai Qwen-Deep-Research API reference; the mainline model does
 * not take them). An admin lists them in the JSON file RESEARCH_TOOLS_FILE, either as a plain array of entries
 * in the documented shape or as `{"tools": [...], "channels": {"<channel id>": ["<server_label>", ...]}}`:
 *
 *   {"type": "mcp", "server_label": "kb", "server_url": "https://kb.example.com/sse",
 *    "allowed_tools": ["search", "fetch"], "require_approval": false, "authentication": {"bearer": "<token>"}}
 *
 * Which channel gets which tools (fail closed: these are private data):
 * - RESEARCH_TOOLS_CHANNELS set: only the channels it lists get tools; a listed channel the file maps gets its
 *   mapped subset, any other listed channel every tool. A mapped channel it does not list is a mistake (refused).
 * - not set: a file with `channels` gives tools only to the channels it maps; a file without, to every channel.
 * A request without a channel (the terminal) gets tools only when nothing restricts them.
 *
 * Every problem is a ResearchToolsError naming the variable. Messages name fields, entries, labels and channel
 * ids, never a value that could be a secret (tokens, URLs with credentials).
 */

/** The only model that takes research_tools. */
export const RESEARCH_TOOLS_MODEL = 'qwen-deep-research-2025-12-15';

export interface ResearchTools {
  /** The `research_tools` entries for a request from this channel; undefined or empty: send none. */
  forChannel(channel?: string): unknown[] | undefined;
}

export class ResearchToolsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResearchToolsError';
  }
}

/** One MCP server, as DashScope takes it. */
export interface ResearchTool {
  type: 'mcp';
  server_label: string;
  server_url: string;
  allowed_tools: string[];
  require_approval?: boolean;
  authentication?: { bearer?: string; oauth?: Record<string, unknown> };
}

const FILE = 'RESEARCH_TOOLS_FILE';
const CHANNELS = 'RESEARCH_TOOLS_CHANNELS';

export function loadResearchTools(path: string, channels: string | undefined, model: string): ResearchTools {
  if (model === 'deep-search-agent') {
    throw new ResearchToolsError(
      `${FILE} is set, but RESEARCH_BACKEND is deep-search-agent: research tools (MCP servers) only work with the ` +
        `qwen-deep-research backend and its snapshot model, RESEARCH_MODEL=${RESEARCH_TOOLS_MODEL}. Unset ${FILE}, or change both.`,
    );
  }
  if (model !== RESEARCH_TOOLS_MODEL) {
    throw new ResearchToolsError(
      `${FILE} is set, but research tools (MCP servers) only work with the snapshot model ${RESEARCH_TOOLS_MODEL}, ` +
        `and RESEARCH_MODEL is ${model || 'not set'}. Set RESEARCH_MODEL=${RESEARCH_TOOLS_MODEL}, or unset ${FILE}.`,
    );
  }
  const fail = (problem: string) => new ResearchToolsError(`${FILE} (${path}): ${problem}`);
  const { tools, mapping } = parseToolsFile(parseJson(readToolsFile(path, fail), fail), fail);
  const allowed = parseChannelList(channels);
  if (allowed && mapping) {
    const unlisted = [...mapping.keys()].filter((c) => !allowed.has(c));
    if (unlisted.length > 0) {
      const [channelWord, them, they] = unlisted.length > 1 ? ['the channels', 'them', 'they'] : ['the channel', 'it', 'it'];
      throw new ResearchToolsError(
        `${FILE} (${path}) maps ${channelWord} ${quoteList(unlisted)} in "channels", but ${CHANNELS} does not list ${them}, ` +
          `so ${they} would get no tools. Add ${them} to ${CHANNELS}, or remove ${them} from "channels".`,
      );
    }
  }
  return new ChannelTools(tools, mapping, allowed);
}

class ChannelTools implements ResearchTools {
  constructor(
    private readonly tools: ResearchTool[],
    private readonly mapping: Map<string, ResearchTool[]> | undefined,
    private readonly allowed: Set<string> | undefined,
  ) {}

  forChannel(channel?: string): unknown[] | undefined {
    if (this.allowed && (channel === undefined || !this.allowed.has(channel))) return undefined;
    const mapped = channel === undefined ? undefined : this.mapping?.get(channel);
    if (mapped) return [...mapped];
    if (this.allowed || !this.mapping) return [...this.tools];
    return undefined;
  }
}

function readToolsFile(path: string, fail: (problem: string) => Error): string {
  try {
    return readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fail('there is no such file.');
    if (code === 'EISDIR') throw fail('this is a directory, not a JSON file.');
    if (code === 'EACCES' || code === 'EPERM') throw fail('the bot may not read this file (permission denied).');
    throw fail(`the file could not be read (${code ?? 'unknown error'}).`);
  }
}

function parseJson(text: string, fail: (problem: string) => Error): unknown {
  if (!text.trim()) throw fail('the file is empty; it should hold a JSON array of tools.');
  try {
    return JSON.parse(text);
  } catch {
    // Not V8's message: it may quote the text around the error (a token, say). Only the place is reported.
    throw fail(`the file is not valid JSON (${jsonErrorPlace(text)}).`);
  }
}

const nonBlank = (s: string) => s.trim() !== '';

const ToolSchema = z.strictObject({
  type: z.literal('mcp'),
  server_label: z.string().refine(nonBlank),
  server_url: z.string().refine(isHttpUrl),
  allowed_tools: z.array(z.string().refine(nonBlank)).min(1),
  require_approval: z.boolean().optional(),
  authentication: z
    .strictObject({ bearer: z.string().refine(nonBlank).optional(), oauth: z.record(z.string(), z.unknown()).optional() })
    .refine((auth) => auth.bearer !== undefined || auth.oauth !== undefined)
    .optional(),
});

const FileSchema = z.strictObject({
  tools: z.array(z.unknown()),
  channels: z.record(z.string(), z.array(z.string())).optional(),
});

/** What is wrong with a field of a tool, in plain words (never its value). */
const TOOL_PROBLEMS: Record<string, string> = {
  type: '"type" must be "mcp", the only type DashScope documents.',
  server_label: '"server_label" is missing or empty; it names the MCP server.',
  server_url: '"server_url" is missing or not an http(s) URL.',
  allowed_tools: '"allowed_tools" must list the MCP tools the model may call, e.g. ["search", "fetch"].',
  require_approval: '"require_approval" must be true or false.',
  authentication: '"authentication" must be an object, {"bearer": "<token>"} or {"oauth": {…}}.',
  'authentication.bearer': '"authentication.bearer" must be a non-empty string (the token).',
  'authentication.oauth': '"authentication.oauth" must be an object.',
};

type Issue = z.core.$ZodIssue;
const fieldOf = (issue: Issue) => issue.path.filter((p) => typeof p === 'string').join('.');

function parseToolsFile(json: unknown, fail: (problem: string) => Error): { tools: ResearchTool[]; mapping?: Map<string, ResearchTool[]> } {
  if (Array.isArray(json)) return { tools: parseTools(json, fail) };
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) {
    if (typeof json !== 'object' || json === null) {
      throw fail('expected a JSON array of tools, or an object with "tools" (an array) and optionally "channels".');
    }
    const issues = parsed.error.issues;
    throw fail(describeFileIssue(issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!, tryLabel(json)));
  }
  const tools = parseTools(parsed.data.tools, fail);
  if (parsed.data.channels === undefined) return { tools };
  return { tools, mapping: parseMapping(parsed.data.channels, tools, fail) };
}

function describeFileIssue(issue: Issue, example: string): string {
  if (issue.code === 'unrecognized_keys') return `unknown field ${quoteList(issue.keys)} at the top level (known: "tools", "channels").`;
  const [field, channel] = issue.path;
  if (field === 'tools') return '"tools" is missing or not an array of tools.';
  if (channel === undefined) return '"channels" must be an object mapping channel ids to lists of server_labels.';
  return `"channels" → "${String(channel)}" must be a list of server_labels, e.g. ["${example}"].`;
}

/** A server_label from the file, for an example in a message. */
function tryLabel(json: object): string {
  const first = (json as { tools?: unknown[] }).tools?.[0] as { server_label?: unknown } | undefined;
  return typeof first?.server_label === 'string' ? first.server_label : 'kb';
}

function parseTools(entries: unknown[], fail: (problem: string) => Error): ResearchTool[] {
  if (entries.length === 0) throw fail('the list of tools is empty.');
  const tools = entries.map((entry, i) => parseTool(entry, i + 1, fail));
  const seen = new Map<string, number>();
  tools.forEach((t, i) => {
    const first = seen.get(t.server_label);
    if (first !== undefined) throw fail(`tools ${first} and ${i + 1} are both labelled "${t.server_label}"; each server_label must be unique.`);
    seen.set(t.server_label, i + 1);
  });
  return tools;
}

function parseTool(entry: unknown, n: number, fail: (problem: string) => Error): ResearchTool {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail(`tool ${n} is not an object.`);
  const parsed = ToolSchema.safeParse(entry);
  if (parsed.success) return parsed.data;
  const raw = (entry as { server_label?: unknown }).server_label;
  const label = typeof raw === 'string' && nonBlank(raw) ? ` ("${raw}")` : '';
  throw fail(`tool ${n}${label}: ${describeToolIssue(firstIssue(parsed.error.issues))}`);
}

/** Unknown fields first (a misspelt field explains the rest), then the fields in the order the API lists them. */
function firstIssue(issues: Issue[]): Issue {
  const order = (i: Issue) => (i.code === 'unrecognized_keys' ? -1 : Object.keys(TOOL_PROBLEMS).indexOf(fieldOf(i)));
  return [...issues].sort((a, b) => order(a) - order(b))[0]!;
}

function describeToolIssue(issue: Issue): string {
  const field = fieldOf(issue);
  if (issue.code === 'unrecognized_keys') {
    if (field === 'authentication') return `unknown field ${quoteList(issue.keys)} in "authentication" (known: bearer, oauth).`;
    const hint = issue.keys.includes('headers') ? '; a bearer token goes in "authentication": {"bearer": …}' : '';
    return `unknown field ${quoteList(issue.keys)} (known: ${Object.keys(ToolSchema.shape).join(', ')})${hint}.`;
  }
  if (field === 'authentication' && issue.code === 'custom') return '"authentication" is empty; give "bearer" or "oauth", or leave it out.';
  return TOOL_PROBLEMS[field] ?? `"${field}" is not valid.`;
}

function parseMapping(raw: Record<string, string[]>, tools: ResearchTool[], fail: (problem: string) => Error): Map<string, ResearchTool[]> {
  const byLabel = new Map(tools.map((t) => [t.server_label, t]));
  const mapping = new Map<string, ResearchTool[]>();
  for (const [channel, names] of Object.entries(raw)) {
    if (!channel.trim()) throw fail('"channels" has an empty channel id.');
    const unknown = names.filter((n) => !byLabel.has(n));
    if (unknown.length > 0) {
      throw fail(`"channels" → "${channel}" names ${quoteList(unknown)}, which no tool has as its server_label (there are: ${quoteList([...byLabel.keys()])}).`);
    }
    mapping.set(channel, [...new Set(names)].map((n) => byLabel.get(n)!));
  }
  return mapping;
}

function parseChannelList(value: string | undefined): Set<string> | undefined {
  const ids = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (ids.length === 0) return undefined;
  const spaced = ids.find((id) => /\s/.test(id));
  if (spaced) throw new ResearchToolsError(`${CHANNELS}: "${spaced}" has a space in it; separate channel or chat ids with commas.`);
  return new Set(ids);
}

function isHttpUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    const url = new URL(v);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

function quoteList(items: string[]): string {
  return items.map((s) => `"${s}"`).join(', ');
}
