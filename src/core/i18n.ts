import type { CitationCheck } from './citations.js';
import { followupEn, followupZh } from './i18n-followup.js';
import type { Usage } from './ports/research.js';
import type { FailureCode, Lang } from './ports/thread.js';

export type { FailureCode, Lang };

/** Chinese when the text has CJK characters, unless the admin fixed the language. */
export function detectLang(text: string, setting: 'auto' | Lang = 'auto'): Lang {
  if (setting !== 'auto') return setting;
  return /[\u3400-\u9fff\uf900-\ufaff]/.test(text) ? 'zh' : 'en';
}

const en = {
  help: 'Mention me with a topic and I will research it on the web and write a cited report. For example: "@Deep Research the state of solid-state batteries in 2026".',
  thinking: 'Reading your request and preparing a clarifying question…',
  working: 'is researching…',
  clarifyIntro: 'Before I start, one question:',
  clarifyHint: 'Reply in this thread to answer, or press "Start research now" and I will use my judgement.',
  answerPlaceholder: 'Your answer',
  submit: 'Submit answer',
  startNow: 'Start research now',
  cancel: 'Cancel',
  retry: 'Retry',
  answered: 'Answered. The research is on its way.',
  noQuestion: 'No clarifying question was needed; the research has started.',
  startNowAnswer: 'Please use your own judgement on the scope and go ahead with comprehensive research; no further confirmation is needed.',
  topic: 'Topic',
  queued: (n: number) => `Waiting for a free research slot (position ${n} in the queue).`,
  starting: 'Starting the research…',
  phase: { starting: 'Starting', planning: 'Planning the research', searching: 'Searching the web', writing: 'Writing the report' } as Record<string, string>,
  round: (n: number) => `Round ${n}`,
  sources: (n: number) => `${n} sources`,
  tokens: (n: number) => `${n} tokens`,
  elapsed: (s: number) => (s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`),
  done: 'Research finished.',
  doneSummary: (elapsed: string, sources: number, words: number) => `Done in ${elapsed} · ${sources} sources · ${words} words`,
  failed: 'The research failed.',
  cancelled: 'The research was cancelled.',
  busy: 'I am still working on this research and will post the report here. Reply `cancel` to stop it.',
  preparing: 'I am still preparing my question; reply once it is posted.',
  notRequester: 'Only the person who asked can answer this question or control this research.',
  restarted: 'The bot restarted; running your research again.',
  notAllowedChannel: 'Research is not enabled in this channel. An admin can add it to ALLOWED_CHANNELS.',
  notAllowedUser: 'You are not on the list of people who can run research here. Ask an admin to add you to ALLOWED_USERS.',
  perUserLimit: (n: number) =>
    `You already have ${n} research request${n > 1 ? 's' : ''} under way (a question being prepared or a research running). Wait for ${n > 1 ? 'one' : 'it'} to finish or cancel it, then ask again.`,
  dailyLimit: (n: number) => `You have reached today's limit of ${n} research request${n > 1 ? 's' : ''}. It resets at midnight UTC.`,
  textCut: (n: number) => `Your message was longer than ${n.toLocaleString('en')} characters; I used the first ${n.toLocaleString('en')}.`,
  filesIgnored: (names: string[]) =>
    `This research reads only your text, so the attached file${names.length > 1 ? 's' : ''} (${names.join(', ')}) ${names.length > 1 ? 'are' : 'is'} not used.`,
  tooManyFiles: (n: number, max: number) => `You attached ${n} files; at most ${max} can be used. Mention me again with fewer files.`,
  fileTooLarge: (name: string, size: number, max: number) =>
    `${name} is ${megabytes(size)}; an attached file can be at most ${megabytes(max)}. Mention me again without it or with a smaller file.`,
  imagesSkipped: (items: string[]) => `Not sent to the research: ${items.join('; ')}.`,
  imageTooLarge: (name: string, max: number) => `${name} (over ${megabytes(max)})`,
  imageOverCount: (name: string, max: number) => `${name} (at most ${max} images are read)`,
  imageNotUsed: (name: string) => `${name} (only JPEG, PNG, BMP and WEBP images are read)`,
  unsupported: 'I can read text and rich-text messages. Send me your topic as text; images attached to that message go to the research.',
  couldNotSave: 'I could not save this, so nothing was started. Please try again in a minute; if it keeps happening, tell an admin.',
  budgetWarning: (spent: string, limit: string) => `Heads-up: this month's research budget is 80% used (an estimated ${spent} of ${limit}).`,
  budgetSpent: (limit: string) =>
    `This month's research budget (${limit}, estimated) is used up, so no new research can start until next month (UTC). The admin who deploys the bot can raise MONTHLY_BUDGET_YUAN.`,
  cost: (cost: string) => `≈ ${cost}`,
  referencesHeading: 'References',
  notVisited: 'not among the visited sources',
  pageResearch: 'How it was researched',
  pageLink: (url: string) => `Read and share it as a page: [${url}](${url})`,
  reportFooter: (c: CitationCheck, usage: Usage | undefined, cost: string | undefined) =>
    [
      `${c.cited} source${c.cited === 1 ? '' : 's'} cited of ${c.sources}`,
      c.visited === 0
        ? 'not checked: the research reported no visited pages'
        : c.unvisited.length === 0
          ? `all checked against the ${c.visited} pages the research visited`
          : `checked against the ${c.visited} pages the research visited: ${c.unvisited.length} not among them (marked)`,
      ...(c.unknown.length ? [`${c.unknown.length} citation${c.unknown.length === 1 ? '' : 's'} without a source`] : []),
      ...(usage ? [`${(usage.inputTokens + usage.outputTokens).toLocaleString('en')} tokens`] : []),
      ...(cost ? [`estimated cost ${cost}`] : []),
    ].join(' · '),
  reportFileTitle: 'Full report (Markdown)',
  continuedBelow: 'continued below',
  restartedBelow: 'Interrupted by a restart · continued below',
  statusPhase: { starting: 'is starting the research…', planning: 'is planning the research…', searching: 'is searching the web…', writing: 'is writing the report…' } as Record<string, string>,
  feedbackGood: 'Helpful',
  feedbackBad: 'Not helpful',
  progressBelow: '· progress and report below ↓',
  errors: {
    auth: 'DashScope rejected the API key. An admin needs to check DASHSCOPE_API_KEY.',
    quota: 'The DashScope account is out of credit or quota. An admin needs to top it up; then press Retry.',
    rate_limited: 'DashScope is throttling requests right now. Wait a minute and press Retry.',
    content_blocked: "DashScope's content filter stopped this research. Try rephrasing the topic.",
    bad_request: 'DashScope rejected the request. Try different wording; if it keeps happening, tell an admin.',
    unavailable: 'DashScope is temporarily unavailable. Wait a few minutes and press Retry.',
    network: 'The bot could not reach DashScope. Wait a few minutes and press Retry.',
    timeout: 'DashScope stopped sending anything for too long. Press Retry to run it again.',
    cancelled: 'The research was cancelled.',
    truncated: 'The research stream was cut off before the report was finished. Press Retry to run it again.',
    interrupted: 'The bot restarted during this research more often than it may re-run it. Press Retry to run it again.',
    internal: 'Something went wrong inside the bot. Press Retry; if it keeps happening, tell an admin.',
    file_rejected: 'An attached file could not be used (at most 10 files of up to 100 MB each, in a format DashScope can read). Mention me again without it or with another file.',
    not_posted: 'The bot could not post in this thread, so nothing was started. Press Retry or mention me again.',
  } satisfies Record<FailureCode, string>,
  progressContinuesBelow: 'The progress continues in the card below.',
  followup: followupEn,
};

export type Strings = typeof en;

const zh: Strings = {
  help: '@我并附上研究主题，我会在网上调研并写一份带引用的报告。例如：“@Deep Research 2026 年固态电池的进展”。',
  thinking: '正在理解你的需求并准备一个澄清问题…',
  working: '正在研究…',
  clarifyIntro: '开始之前，想先确认一个问题：',
  clarifyHint: '在本话题中回复即可作答，或点击“立即开始研究”，由我自行判断。',
  answerPlaceholder: '你的回答',
  submit: '提交回答',
  startNow: '立即开始研究',
  cancel: '取消',
  retry: '重试',
  answered: '已收到回答，研究即将开始。',
  noQuestion: '无需澄清问题，研究已经开始。',
  startNowAnswer: '请直接按以上方向进行全面深入的研究，不需要再确认。',
  topic: '主题',
  queued: (n) => `正在排队等待研究名额（第 ${n} 位）。`,
  starting: '研究开始…',
  phase: { starting: '准备中', planning: '规划研究', searching: '网络搜索', writing: '撰写报告' },
  round: (n) => `第 ${n} 轮`,
  sources: (n) => `${n} 个来源`,
  tokens: (n) => `${n} tokens`,
  elapsed: (s) => (s >= 60 ? `${Math.floor(s / 60)} 分 ${s % 60} 秒` : `${s} 秒`),
  done: '研究完成。',
  doneSummary: (elapsed, sources, words) => `用时 ${elapsed} · ${sources} 个来源 · ${words} 字`,
  failed: '研究失败。',
  cancelled: '研究已取消。',
  busy: '研究仍在进行中，完成后会把报告发在这里。回复“取消”可停止。',
  preparing: '我还在准备问题，请在问题发出后再回复。',
  notRequester: '只有提问的人可以回答这个问题或控制这次研究。',
  restarted: '机器人刚刚重启，正在重新运行你的研究。',
  notAllowedChannel: '本群/频道未开启研究功能。管理员可以把它加入 ALLOWED_CHANNELS。',
  notAllowedUser: '你不在可发起研究的名单中，请联系管理员加入 ALLOWED_USERS。',
  perUserLimit: (n) => `你已有 ${n} 个研究请求在进行中（正在准备问题或正在研究）。请等它完成或取消后再发起。`,
  dailyLimit: (n) => `你今天的研究次数已达上限（${n} 次），将于 UTC 零点重置。`,
  textCut: (n) => `你的消息超过 ${n} 个字符，只使用了前 ${n} 个字符。`,
  filesIgnored: (names) => `本研究只读取文字，附件（${names.join('、')}）不会被使用。`,
  tooManyFiles: (n, max) => `你附带了 ${n} 个文件，最多只能使用 ${max} 个。请减少文件后重新 @我。`,
  fileTooLarge: (name, size, max) => `${name} 大小为 ${megabytes(size)}，附件最大 ${megabytes(max)}。请去掉它或换一个更小的文件后重新 @我。`,
  imagesSkipped: (items) => `以下附件未发送给研究：${items.join('；')}。`,
  imageTooLarge: (name, max) => `${name}（超过 ${megabytes(max)}）`,
  imageOverCount: (name, max) => `${name}（最多读取 ${max} 张图片）`,
  imageNotUsed: (name) => `${name}（只读取 JPEG、PNG、BMP、WEBP 图片）`,
  unsupported: '我能读取文字和富文本消息。请用文字发送研究主题；同一条消息中附带的图片会一并用于研究。',
  couldNotSave: '无法保存，本次请求没有开始。请稍后重试；如果反复出现，请联系管理员。',
  budgetWarning: (spent, limit) => `提醒：本月研究预算已用 80%（估算 ${spent}，共 ${limit}）。`,
  budgetSpent: (limit) => `本月研究预算（估算 ${limit}）已用完，下个月（UTC）之前无法开始新的研究。部署机器人的管理员可以调高 MONTHLY_BUDGET_YUAN。`,
  cost: (cost) => `≈ ${cost}`,
  referencesHeading: '参考资料',
  notVisited: '不在研究访问过的来源中',
  pageResearch: '研究过程',
  pageLink: (url) => `网页版（可分享）：[${url}](${url})`,
  reportFooter: (c, usage, cost) =>
    [
      `引用了 ${c.sources} 个来源中的 ${c.cited} 个`,
      c.visited === 0
        ? '未核对：研究未报告访问过的网页'
        : c.unvisited.length === 0
          ? `均已与研究访问过的 ${c.visited} 个网页核对`
          : `已与研究访问过的 ${c.visited} 个网页核对：${c.unvisited.length} 个不在其中（已标注）`,
      ...(c.unknown.length ? [`${c.unknown.length} 处引用没有对应来源`] : []),
      ...(usage ? [`${usage.inputTokens + usage.outputTokens} tokens`] : []),
      ...(cost ? [`估算费用 ${cost}`] : []),
    ].join(' · '),
  reportFileTitle: '完整报告（Markdown）',
  continuedBelow: '见下一条',
  restartedBelow: '因重启中断 · 见下一条',
  statusPhase: { starting: '正在开始研究…', planning: '正在规划研究…', searching: '正在网络搜索…', writing: '正在撰写报告…' },
  feedbackGood: '有帮助',
  feedbackBad: '没帮助',
  progressBelow: '· 进度和报告见下方 ↓',
  errors: {
    auth: 'DashScope 拒绝了 API Key，需要管理员检查 DASHSCOPE_API_KEY。',
    quota: 'DashScope 账户余额或额度不足，需要管理员充值后点击重试。',
    rate_limited: 'DashScope 当前限流，请稍等一分钟后点击重试。',
    content_blocked: 'DashScope 的内容审核拦截了本次研究，请换一种说法描述主题。',
    bad_request: 'DashScope 拒绝了请求。请换一种说法；如果反复出现，请联系管理员。',
    unavailable: 'DashScope 暂时不可用，请几分钟后点击重试。',
    network: '机器人无法连接 DashScope，请几分钟后点击重试。',
    timeout: 'DashScope 长时间没有返回内容，点击重试可重新运行。',
    cancelled: '研究已取消。',
    truncated: '研究数据流在报告完成前中断了，点击重试可重新运行。',
    interrupted: '研究期间机器人多次重启，已超过自动重跑次数。点击重试可重新运行。',
    internal: '机器人内部出错。请点击重试；如果反复出现，请联系管理员。',
    file_rejected: '附件无法使用（最多 10 个文件，每个不超过 100 MB，且需为 DashScope 能解析的格式）。请去掉或更换文件后重新 @我。',
    not_posted: '机器人无法在此话题中发消息，因此没有开始。请点击重试或重新 @我。',
  },
  progressContinuesBelow: '进度在下方的卡片中继续。',
  followup: followupZh,
};

function megabytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / 1024 ** 2))} MB`;
}

/** A failure in words; a refused file also says which file and why. */
export function failureText(t: Strings, failure: { code: FailureCode; detail?: string } | undefined): string {
  if (!failure) return '';
  return failure.code === 'file_rejected' && failure.detail ? `${t.errors.file_rejected} (${failure.detail})` : t.errors[failure.code];
}

export function strings(lang: Lang): Strings {
  return lang === 'zh' ? zh : en;
}

/** Typed "cancel" in either language. */
export function isCancelWord(text: string): boolean {
  return /^\s*(cancel|stop|取消|停止)\s*[.!。！]?\s*$/i.test(text);
}
