import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, VARIABLES } from '../src/config.js';

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return '';
};

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c.dashscope.baseUrl).toBe('https://dashscope.aliyuncs.com');
    expect(c.research).toMatchObject({ backend: 'qwen-deep-research', model: 'qwen-deep-research', format: 'detailed', clarify: true });
    expect(c.storePath).toBe('data/bot.db');
    expect(c.port).toBe(3000);
    expect(c.slack).toBeUndefined();
    expect(c.feishu).toBeUndefined();
  });

  it('names the variable, the problem and an example', () => {
    const msg = problems({ PORT: 'eighty', MAX_CONCURRENT_RESEARCH: '0', DASHSCOPE_BASE_URL: 'ftp://x', REPORT_FORMAT: 'long' });
    expect(msg).toContain('PORT: "eighty" is not a whole number. Example: PORT=3000');
    expect(msg).toContain('MAX_CONCURRENT_RESEARCH: "0" must be at least 1');
    expect(msg).toContain('DASHSCOPE_BASE_URL: "ftp://x" is not an http(s) URL');
    expect(msg).toMatch(/REPORT_FORMAT: "long" .*Example: REPORT_FORMAT=detailed/);
  });

  it('checks combinations', () => {
    expect(problems({ RESEARCH_BACKEND: 'deep-search-agent' })).toContain('DEEP_SEARCH_AGENT_ID: is required when RESEARCH_BACKEND=deep-search-agent');
    expect(problems({ SLACK_BOT_TOKEN: 'xoxb-1' })).toContain('SLACK_SIGNING_SECRET: is required for Slack in HTTP mode');
    expect(problems({ SLACK_APP_TOKEN: 'xapp-1' })).toContain('SLACK_BOT_TOKEN: is required');
    expect(problems({ FEISHU_APP_ID: 'cli_1' })).toContain('FEISHU_APP_SECRET: is required');
    expect(problems({ FEISHU_APP_ID: 'cli_1', FEISHU_APP_SECRET: 's', FEISHU_CONNECTION: 'webhook' })).toContain(
      'FEISHU_ENCRYPT_KEY: is required when FEISHU_CONNECTION=webhook',
    );
    expect(loadConfig({ FEISHU_APP_ID: 'cli_1', FEISHU_APP_SECRET: 's', FEISHU_DOMAIN: 'lark' }).feishu).toMatchObject({ domain: 'lark', connection: 'websocket' });
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }).slack?.appToken).toBe('xapp-1');
  });

  it('requires the encrypt key for the Feishu webhook unless token-only is explicitly allowed', () => {
    const webhook = { FEISHU_APP_ID: 'cli_1', FEISHU_APP_SECRET: 's', FEISHU_CONNECTION: 'webhook' };
    // A verification token alone no longer passes: without the key Feishu does not sign requests.
    const msg = problems({ ...webhook, FEISHU_VERIFICATION_TOKEN: 'vt' });
    expect(msg).toContain('FEISHU_ENCRYPT_KEY: is required when FEISHU_CONNECTION=webhook');
    expect(msg).toContain('Developer Console → the app → Events & Callbacks → Encryption Strategy → Encrypt Key');
    expect(msg).toContain('FEISHU_ALLOW_TOKEN_ONLY=true');
    expect(loadConfig({ ...webhook, FEISHU_ENCRYPT_KEY: 'ek' }).feishu).toMatchObject({ encryptKey: 'ek', allowTokenOnly: false });

    expect(problems({ ...webhook, FEISHU_ALLOW_TOKEN_ONLY: 'true' })).toContain(
      'FEISHU_VERIFICATION_TOKEN: is required when FEISHU_ALLOW_TOKEN_ONLY=true and FEISHU_ENCRYPT_KEY is not set',
    );
    expect(loadConfig({ ...webhook, FEISHU_ALLOW_TOKEN_ONLY: 'true', FEISHU_VERIFICATION_TOKEN: 'vt' }).feishu).toMatchObject({
      verificationToken: 'vt',
      encryptKey: undefined,
      allowTokenOnly: true,
    });
    expect(problems({ ...webhook, FEISHU_ALLOW_TOKEN_ONLY: 'maybe' })).toContain('FEISHU_ALLOW_TOKEN_ONLY: "maybe"');
    // The long connection needs neither.
    expect(loadConfig({ FEISHU_APP_ID: 'cli_1', FEISHU_APP_SECRET: 's' }).feishu?.allowTokenOnly).toBe(false);
  });

  it('reads how report documents are shared in Feishu, and their folder', () => {
    const feishu = { FEISHU_APP_ID: 'cli_1', FEISHU_APP_SECRET: 's' };
    expect(loadConfig(feishu).feishu).toMatchObject({ docShare: 'chat', docFolderToken: undefined });
    expect(loadConfig({ ...feishu, FEISHU_DOC_SHARE: 'tenant', FEISHU_DOC_FOLDER_TOKEN: 'fldcnAbC123' }).feishu).toMatchObject({ docShare: 'tenant', docFolderToken: 'fldcnAbC123' });
    expect(problems({ ...feishu, FEISHU_DOC_SHARE: 'everyone' })).toContain('FEISHU_DOC_SHARE: "everyone"');
    expect(problems({ ...feishu, FEISHU_DOC_SHARE: 'everyone' })).toContain('Example: FEISHU_DOC_SHARE=chat');
    expect(problems({ ...feishu, FEISHU_DOC_FOLDER_TOKEN: 'https://x.feishu.cn/drive/folder/fldcn1' })).toContain('FEISHU_DOC_FOLDER_TOKEN:');
  });

  it('never echoes a secret', () => {
    const msg = problems({ SLACK_BOT_TOKEN: 'xoxp-super-secret-value', SLACK_APP_TOKEN: 'xapp-1' });
    expect(msg).toContain('SLACK_BOT_TOKEN: the value must start with xoxb-');
    expect(msg).not.toContain('super-secret');
  });

  it('.env.example lists every variable', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    for (const name of VARIABLES) expect(example, name).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });
});
