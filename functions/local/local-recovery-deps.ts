import { createMysqlReplicationAdmin } from '../adapters/mysql-replication-admin';
import { SqlRecoveryStore } from '../adapters/sql-recovery-store';
import type { Catalog } from '../ports/catalog';
import { systemClock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import type { NodeCredentials } from '../ports/node-credentials';
import type { NodeProber } from '../ports/node-prober';
import type { SqlExecutor } from '../ports/sql';
import { DEFAULT_RECOVERY_POLICY, type RecoveryDeps } from '../recovery/context';

/** Recovery over local self-managed servers (plain TCP, no Aurora): the sandbox, `chaos` and end-to-end tests. */
export function localRecoveryDeps(parts: { catalog: Catalog; executor: SqlExecutor; prober: NodeProber; credentials: NodeCredentials; events: EventPublisher }): RecoveryDeps {
  return {
    catalog: parts.catalog,
    store: new SqlRecoveryStore(parts.executor),
    prober: parts.prober,
    admin: createMysqlReplicationAdmin({ credentials: parts.credentials, tls: 'off' }),
    events: parts.events,
    clock: systemClock,
    policy: { ...DEFAULT_RECOVERY_POLICY },
    auroraClusters: {},
  };
}
