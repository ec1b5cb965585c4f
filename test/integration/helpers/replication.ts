import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReplicatedShard, type ReplicatedShard } from '../../../functions/local/replicated-shard';
import { freePortBlock } from './ports';

export interface TestShardOptions {
  shard?: string;
  database?: string;
  replicas?: number;
  /** Where the servers' data directories go (`<baseDir>/<node id>`); default: a new temporary folder. */
  baseDir?: string;
}

/**
 * A replicated shard of private mariadbd servers in a temporary folder on free ports; stop() also
 * removes the folder. A start that loses a port race with another test's servers is retried.
 */
export async function startTestShard({ shard = '-80', database = 'sk_shard', replicas = 2, baseDir = mkdtempSync(join(tmpdir(), 'sk-replication-')) }: TestShardOptions = {}): Promise<ReplicatedShard> {
  for (let attempt = 1; ; attempt++) {
    const basePort = await freePortBlock(2 * (replicas + 1));
    try {
      const started = await startReplicatedShard({ baseDir, basePort, shard, database, replicas });
      return {
        ...started,
        async stop() {
          await started.stop();
          rmSync(baseDir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      if (attempt === 3) {
        rmSync(baseDir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}
