import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PostTag, ReportPart, ThreadKey, View } from '../../src/core/ports/chat.js';
import type { Report } from '../../src/core/report.js';
import type { Lang } from '../../src/core/i18n.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform } from '../fakes/recording-platform.js';
import { mentionEvent, nextTs, replyEvent, slackWorld, type SlackWorld } from '../slack/harness.js';
import { makeEngine, mention, reply } from './harness.js';

let fake: FakeDashScope;
let w: SlackWorld | undefined;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
});
afterEach(async () => {
  await w?.close();
  w = undefined;
  await fake.close();
});

/** A platform whose posts fail as the test says: `failPosts` times, or always. */
class FlakyPlatform extends RecordingPlatform {
  failPosts = 0;
  readonly tags: (PostTag | undefined)[] = [];
  override async post(thread: ThreadKey, view: View, tag?: PostTag): Promise<string> {
    if (view.kind !== 'notice' && this.failPosts-- > 0) throw new Error('ok:false internal_error');
    this.tags.push(tag);
    return super.post(thread, view);
  }
}

describe('nothing is lost between a post and its record', () => {
  it('a first post that fails once is retried: the question appears once and step 1 runs once', async () => {
    const platform = new FlakyPlatform();
    platform.failPosts = 1;
    const { engine, store } = makeEngine(fake, { platform });
    await engine.handle(mention('p1', 'topic'));
    await expect.poll(() => platform.clarify('p1')?.open).toBe(true);
    expect(platform.inThread('p1').filter((m) => m.views[0]!.kind === 'clarify')).toHaveLength(1);
    expect(fake.requests).toHaveLength(1);
    expect(platform.tags).toEqual(['clarify:1']);
    expect((await store.get('p1'))?.clarifyMessageId).toBe(platform.inThread('p1')[0]!.id);
  });

  it('a question that cannot be posted fails the thread unbilled, counted; a blind reply starts nothing', async () => {
    const platform = new FlakyPlatform();
    platform.failPosts = Infinity;
    const failed: string[] = [];
    const { engine, store } = makeEngine(fake, { platform, telemetry: { postFailed: (view) => failed.push(view) } });
    await engine.handle(mention('p2', 'topic'));
    expect(await store.get('p2')).toMatchObject({ state: 'failed', failure: { code: 'not_posted' } });
    expect(failed).toEqual(['clarify']);
    await engine.handle(reply('p2', 'my blind answer'));
    expect(await store.get('p2')).toMatchObject({ state: 'failed' });
    expect(engine.load()).toEqual({ running: 0, queued: 0 });
    expect(fake.requests).toHaveLength(0);
  });

  it('a report is delivered part by part; a part that fails once is retried and none appears twice', async () => {
    const platform = new RecordingPlatform();
    const delivered: string[] = [];
    let failures = 1;
    platform.reportParts = (_t: ThreadKey, report: Report, lang: Lang) => ['one', 'two', 'three'].map((label) => ({ label, report, lang }));
    platform.postReportPart = async (_t: ThreadKey, part: ReportPart, tag?: PostTag) => {
      if (part.label === 'two' && failures-- > 0) throw new Error('ok:false internal_error');
      delivered.push(`${part.label}@${tag}`);
      return `id-${part.label}`;
    };
    const { engine, store } = makeEngine(fake, { platform, rules: { clarify: false } });
    await engine.handle(mention('p3', 'topic'));
    await expect.poll(() => platform.progress('p3')?.state).toBe('done');
    expect(delivered).toEqual(['one@report:1:0', 'two@report:1:1', 'three@report:1:2']);
    expect((await store.get('p3'))?.reportDelivered).toBeUndefined();
    // The report's first message is what a later round links to.
    expect((await store.get('p3'))?.report?.messageId).toBe('id-one');
  });

  it('Slack: chat.postMessage refused once (ok:false) still shows the question exactly once, and the reply starts step 2', async () => {
    w = await slackWorld();
    w.slack.fail('chat.postMessage', 'internal_error');
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => w!.slack.thread('C1', ts).filter((m) => m.text.includes(w!.ds.question.slice(0, 30))).length).toBe(1);
    expect(w.slack.thread('C1', ts)).toHaveLength(1);
    expect(w.slack.thread('C1', ts)[0]!.metadata).toEqual({ event_type: 'drb_post', event_payload: { tag: 'clarify:1' } });
    await w.slack.sendEvent(w.endpoint, replyEvent('go', ts));
    await expect.poll(() => w!.ds.requests.length).toBe(2);
  });
});
