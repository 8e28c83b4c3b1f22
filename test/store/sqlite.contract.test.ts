import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ThreadStore } from '../../src/core/ports/store.js';
import { storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'drb-contract-'));
const paths = new WeakMap<ThreadStore, string>();
let n = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// One file per test; the peer is a second connection to the same file, as a second process would open.
storeContract(
  'sqlite',
  async () => {
    const path = join(dir, `bot-${++n}.db`);
    const store = new SqliteStore(path);
    paths.set(store, path);
    return store;
  },
  { peer: async (store) => new SqliteStore(paths.get(store)!) },
);
