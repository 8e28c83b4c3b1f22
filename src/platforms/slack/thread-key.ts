/** The thread-key codec: the opaque key the core stores, and what this platform needs to post into the thread. */
export interface SlackThread {
  team: string;
  channel: string;
  threadTs: string;
}

export function threadKey(t: SlackThread): string {
  return `slack:${t.team}:${t.channel}:${t.threadTs}`;
}

export function parseThreadKey(key: string): SlackThread {
  const [, team = '', channel = '', threadTs = ''] = key.split(':');
  return { team, channel, threadTs };
}
