/** The words of follow-up questions and "Research further", in both languages (merged into i18n's strings). */

export const followupEn = {
  button: 'Research further',
  focusQuestion: 'What should the further research focus on? Reply in this thread with the aspect to dig into.',
  /** The focus when the person presses "Start research now" instead of naming one. */
  startNowFocus: 'the questions the earlier report left open or covered least, and anything that has changed since',
  thinking: 'Reading the report…',
  asked: (asker: string) => `Question from ${asker}`,
  footer: (model: string, tokens: number | undefined, cost: string | undefined) =>
    [`Answered from the report by ${model}`, ...(tokens !== undefined ? [`${tokens.toLocaleString('en')} tokens`] : []), ...(cost ? [`estimated cost ${cost}`] : [])].join(' · '),
  restartedNote: 'answered again after a restart',
  failed: (why: string) => `I could not answer this question. ${why} Ask again in this thread to retry.`,
  limit: (n: number) => `You have asked ${n} follow-up question${n === 1 ? '' : 's'} in the last hour, the most allowed. Ask again later; the limit is FOLLOWUP_LIMIT_PER_HOUR.`,
  unavailable: 'Follow-up questions are not set up on this bot. Mention me in a new message to start a new research.',
  buildsOn: (topic: string, link: string | undefined) =>
    link ? `*This report builds on the earlier report on “${topic}” in this thread: [read it](${link}).*` : `*This report builds on an earlier report on “${topic}” in the same thread.*`,
  /** What the research is asked when it takes a report further. */
  request: (topic: string, summary: string, focus: string) =>
    `Earlier research on “${topic}” produced a report whose summary follows.\n\n${summary}\n\nResearch further, building on it rather than repeating it, with this focus: ${focus}`,
  system:
    'You answer follow-up questions about the research report below, in the language of the question. Use only the report and its sources. ' +
    'Cite the report\'s sources by their numbers in double brackets, exactly like [[3]] or [[1,4]], right after the claim they support. ' +
    'If the report does not cover the question, say plainly that the report does not cover it, and do not answer from general knowledge; ' +
    'you may suggest pressing "Research further" to research it. Be concise.',
  reasons: {
    auth: 'DashScope rejected the API key; an admin needs to check DASHSCOPE_API_KEY.',
    quota: 'The DashScope account is out of credit or quota; an admin needs to top it up.',
    rate_limited: 'DashScope is throttling requests right now; wait a minute.',
    content_blocked: "DashScope's content filter stopped the answer; try rephrasing.",
    other: 'DashScope could not answer just now.',
  } as Record<string, string>,
  reportHeading: 'The report',
  sourcesHeading: 'Its sources',
  omitted: (heading: string) => `[Section “${heading}” left out for length]`,
};

export type FollowupStrings = typeof followupEn;

export const followupZh: FollowupStrings = {
  button: '深入研究',
  focusQuestion: '深入研究要聚焦哪个方面？请在本话题中回复想深挖的方向。',
  startNowFocus: '上一份报告留下的未解决问题或覆盖最少的方面，以及此后发生的变化',
  thinking: '正在阅读报告…',
  asked: (asker) => `${asker} 的问题`,
  footer: (model, tokens, cost) => [`由 ${model} 根据报告回答`, ...(tokens !== undefined ? [`${tokens} tokens`] : []), ...(cost ? [`估算费用 ${cost}`] : [])].join(' · '),
  restartedNote: '机器人重启后重新回答',
  failed: (why) => `无法回答这个问题。${why}可在本话题中再问一次。`,
  limit: (n) => `你在过去一小时内已追问 ${n} 次，达到上限（FOLLOWUP_LIMIT_PER_HOUR），请稍后再问。`,
  unavailable: '本机器人未开启追问功能。请发一条新消息 @我 开始新的研究。',
  buildsOn: (topic, link) => (link ? `*本报告在本话题中关于“${topic}”的上一份报告基础上深入：[查看上一份报告](${link})。*` : `*本报告在同一话题中关于“${topic}”的上一份报告基础上深入。*`),
  request: (topic, summary, focus) => `此前关于“${topic}”的研究产出了一份报告，摘要如下。\n\n${summary}\n\n请在此基础上深入研究（不要重复已有内容），聚焦：${focus}`,
  system:
    '你根据下面的研究报告回答追问，使用提问所用的语言。只依据报告及其来源作答。' +
    '引用报告来源时使用双方括号中的编号，格式严格为 [[3]] 或 [[1,4]]，紧跟在所支持的内容之后。' +
    '如果报告没有涉及这个问题，请直接说明报告没有涉及，不要凭常识作答；可以建议点击“深入研究”。回答要简洁。',
  reasons: {
    auth: 'DashScope 拒绝了 API Key，需要管理员检查 DASHSCOPE_API_KEY。',
    quota: 'DashScope 账户余额或额度不足，需要管理员充值。',
    rate_limited: 'DashScope 当前限流，请稍等一分钟。',
    content_blocked: 'DashScope 的内容审核拦截了回答，请换一种说法。',
    other: 'DashScope 暂时无法回答。',
  },
  reportHeading: '报告',
  sourcesHeading: '报告来源',
  omitted: (heading) => `[因篇幅省略章节“${heading}”]`,
};
