import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createQwenBackend } from '../../src/research/qwen.js';
import { loadResearchTools, RESEARCH_TOOLS_MODEL, ResearchToolsError, type ResearchTools } from '../../src/research/tools-file.js';
import type { ResearchRequest } from '../../src/core/ports/research.js';
import { jsonErrorOffset, jsonErrorPlace } from '../../src/research/json-place.js';
import { FakeDashScope } from '../fakes/dashscope.js';

const SECRET = 'eyJhbGciOiJIUzI1NiJ9.secret-token';
const KB = {
  type: 'mcp',
  server_label: 'kb',
  server_url: 'https://kb.example.com/sse',
  allowed_tools: ['search', 'fetch'],
  require_approval: false,
  authentication: { bearer: SECRET },
};
const WIKI = { type: 'mcp', server_label: 'wiki', server_url: 'https://wiki.example.com/mcp', allowed_tools: ['search', 'fetch'] };

const dir = mkdtempSync(join(tmpdir(), 'research-tools-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: unknown): string {
  const path = join(dir, `tools-${++n}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

const load = (content: unknown, channels?: string, model = RESEARCH_TOOLS_MODEL) => loadResearchTools(file(content), channels, model);

describe('RESEARCH_TOOLS_FILE reaches qwen-deep-research-2025-12-15 as research_tools', () => {
  let fake: FakeDashScope;
  beforeEach(async () => {
    fake = await new FakeDashScope().start();
  });
  afterEach(() => fake.close());

  async function run(tools: ResearchTools, req: ResearchRequest) {
    const backend = createQwenBackend({ baseUrl: fake.url, apiKey: 'sk-test', model: RESEARCH_TOOLS_MODEL, idleTimeoutMs: 5000, retries: 0, tools });
    const events = [];
    for await (const e of backend.run(req)) events.push(e);
    return events;
  }
  const step1 = (channel?: string): ResearchRequest => ({ messages: [{ role: 'user', content: 'topic' }], clarify: true, format: 'detailed', channel });
  const step2 = (channel?: string): ResearchRequest => ({
    messages: [
      { role: 'user', content: 'topic' },
      { role: 'assistant', content: 'Which aspects?' },
      { role: 'user', content: 'costs' },
    ],
    clarify: true,
    format: 'detailed',
    channel,
  });

  it('for a listed channel, in both steps; not for an unlisted channel', async () => {
    const tools = load([KB, WIKI], 'C1, C2');
    await run(tools, step1('C1'));
    await run(tools, step2('C1'));
    await run(tools, step2('C9'));
    await run(tools, step2());
    const sent = fake.requests.map((r) => r.body.parameters?.research_tools);
    expect(sent[0]).toEqual([KB, WIKI]);
    expect(sent[1]).toEqual([KB, WIKI]);
    expect(sent[2]).toBeUndefined();
    expect(sent[3]).toBeUndefined();
    expect(fake.requests.map((r) => r.body.model)).toEqual(Array(4).fill(RESEARCH_TOOLS_MODEL));
  });

  it('a channel mapped in the file gets its subset; an unmapped one gets none', async () => {
    const tools = load({ tools: [KB, WIKI], channels: { C1: ['wiki'], C2: ['kb', 'wiki'] } });
    await run(tools, step2('C1'));
    await run(tools, step2('C2'));
    await run(tools, step2('C3'));
    expect(fake.requests.map((r) => r.body.parameters?.research_tools)).toEqual([[WIKI], [KB, WIKI], undefined]);
  });
});

describe('which channel gets which tools', () => {
  it('without RESEARCH_TOOLS_CHANNELS and without a mapping: every channel, and the terminal', () => {
    const tools = load([KB]);
    expect(tools.forChannel('C1')).toEqual([KB]);
    expect(tools.forChannel(undefined)).toEqual([KB]);
  });

  it('both set: the list gates, the mapping picks subsets, a listed unmapped channel gets every tool', () => {
    const tools = load({ tools: [KB, WIKI], channels: { C1: ['kb'] } }, 'C1,C2');
    expect(tools.forChannel('C1')).toEqual([KB]);
    expect(tools.forChannel('C2')).toEqual([KB, WIKI]);
    expect(tools.forChannel('C3')).toBeUndefined();
    expect(tools.forChannel()).toBeUndefined();
  });

  it('an empty or blank RESEARCH_TOOLS_CHANNELS is not set', () => {
    expect(load([KB], ' , ').forChannel('C7')).toEqual([KB]);
  });
});

describe('a wrong RESEARCH_TOOLS_FILE or RESEARCH_TOOLS_CHANNELS is refused in plain words', () => {
  const cases: [string, () => ResearchTools, RegExp][] = [
    ['a missing file', () => loadResearchTools(join(dir, 'nope.json'), undefined, RESEARCH_TOOLS_MODEL), /^RESEARCH_TOOLS_FILE \(.*nope\.json\): there is no such file\.$/],
    ['a directory', () => loadResearchTools((mkdirSync(join(dir, 'd'), { recursive: true }), join(dir, 'd')), undefined, RESEARCH_TOOLS_MODEL), /is a directory/],
    ['an empty file', () => load('  \n'), /the file is empty/],
    ['bad JSON, with its place', () => load(`[\n  {"type": "mcp",\n   "authentication": {"bearer": ${SECRET}}}\n]`), /not valid JSON \(a syntax error at line 3, column \d+\)/],
    ['truncated JSON', () => load('[{"type": "mcp"'), /not valid JSON/],
    ['the wrong shape', () => load({ servers: [KB] }), /unknown field "servers" at the top level/],
    ['a string', () => load('"kb"'), /expected a JSON array of tools, or an object with "tools"/],
    ['no tools', () => load([]), /the list of tools is empty/],
    ['an entry that is no object', () => load([KB, 'wiki']), /tool 2 is not an object/],
    ['a missing server_url', () => load([KB, { ...WIKI, server_url: undefined }]), /tool 2 \("wiki"\): "server_url" is missing or not an http\(s\) URL/],
    ['a server_url that is no URL', () => load([{ ...KB, server_url: 'kb.example.com' }]), /tool 1 \("kb"\): "server_url" is missing or not an http\(s\) URL/],
    ['a wrong type', () => load([{ ...KB, type: 'function' }]), /"type" must be "mcp"/],
    ['no server_label', () => load([{ ...KB, server_label: '' }]), /tool 1: "server_label" is missing or empty/],
    ['no allowed_tools', () => load([{ ...KB, allowed_tools: [] }]), /"allowed_tools" must list the MCP tools/],
    ['headers instead of authentication', () => load([{ ...WIKI, headers: { Authorization: `Bearer ${SECRET}` } }]), /unknown field "headers" .*authentication/],
    ['an empty bearer', () => load([{ ...KB, authentication: { bearer: '' } }]), /"authentication.bearer" must be a non-empty string/],
    ['a duplicate label', () => load([KB, { ...WIKI, server_label: 'kb' }]), /tools 1 and 2 are both labelled "kb"/],
    ['an unknown tool in a channel mapping', () => load({ tools: [KB, WIKI], channels: { C1: ['kb', 'jira'] } }), /"channels" → "C1" names "jira", which no tool has as its server_label \(there are: "kb", "wiki"\)/],
    ['a mapping that is no list', () => load({ tools: [KB], channels: { C1: 'kb' } }), /"channels" → "C1" must be a list of server_labels/],
    ['a mapped channel RESEARCH_TOOLS_CHANNELS leaves out', () => load({ tools: [KB], channels: { C2: ['kb'] } }, 'C1'), /maps the channel "C2" in "channels", but RESEARCH_TOOLS_CHANNELS does not list it/],
    ['ids separated by spaces', () => load([KB], 'C1 C2'), /^RESEARCH_TOOLS_CHANNELS: "C1 C2" has a space in it; separate channel or chat ids with commas\.$/],
    ['a bearer that is no string', () => load([{ ...KB, authentication: { bearer: 42 } }]), /tool 1 \("kb"\): "authentication.bearer" must be a non-empty string/],
    ['an empty authentication', () => load([{ ...KB, authentication: {} }]), /"authentication" is empty/],
    ['an unknown field in authentication', () => load([{ ...KB, authentication: { token: SECRET } }]), /unknown field "token" in "authentication"/],
    ['the deep-search agent', () => load([KB], undefined, 'deep-search-agent'), /RESEARCH_BACKEND is deep-search-agent: research tools .* RESEARCH_MODEL=qwen-deep-research-2025-12-15/],
    ['the mainline model', () => load([KB], undefined, 'qwen-deep-research'), /only work with the snapshot model qwen-deep-research-2025-12-15, and RESEARCH_MODEL is qwen-deep-research\. Set RESEARCH_MODEL=qwen-deep-research-2025-12-15/],
  ];
  it.each(cases)('%s', (_name, act, message) => {
    let error: unknown;
    try {
      act();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ResearchToolsError);
    const text = (error as Error).message;
    expect(text).toMatch(message);
    expect(text).toMatch(/RESEARCH_TOOLS_(FILE|CHANNELS)/);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('secret-token');
  });
});

describe('the place of a JSON syntax error', () => {
  it.each([
    ['[1, 2,]', 'a syntax error at line 1, column 7'],
    ['{"a": 1 "b": 2}', 'a syntax error at line 1, column 9'],
    ['[\n  {"a": tru}\n]', 'a syntax error at line 2, column 9'],
    ['{"a": "x\\q"}', 'a syntax error at line 1, column 10'],
    ['[{"a": 1}', 'it ends too early, at line 1, column 10'],
    ['[1] x', 'a syntax error at line 1, column 5'],
  ])('%j: %s', (text, place) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonErrorPlace(text)).toBe(place);
  });

  it('finds nothing wrong in valid JSON', () => {
    expect(jsonErrorOffset(JSON.stringify({ tools: [KB, WIKI], n: [-1.5e3, 0, true, null, 'é\u0001\\"'] }))).toBeUndefined();
  });
});
