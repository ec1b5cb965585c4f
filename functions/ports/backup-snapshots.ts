import type { ManagedRecoveryPlan } from '../core/backup-pitr';

/** An Aurora cluster or an RDS MySQL instance, by identifier. */
export interface ManagedDatabase {
  kind: 'aurora' | 'rds';
  identifier: string;
}

export type SnapshotState = 'creating' | 'available' | 'failed';

export interface SnapshotInfo {
  id: string;
  arn: string;
  state: SnapshotState;
  /** The raw status, for messages ("copying", "incompatible-restore", ...). */
  status: string;
  region: string;
}

/** A cluster or instance a restore created. */
export interface RestoredDatabase {
  arn: string;
  /** The writer endpoint, when known at creation (Aurora clusters); an RDS instance gets one once available. */
  endpoint?: { host: string; port: number };
}

/** Cluster and instance snapshots, and the service's point-in-time restore. */
export interface SnapshotService {
  createSnapshot(database: ManagedDatabase, snapshotId: string, tags: Record<string, string>): Promise<SnapshotInfo>;
  describeSnapshot(kind: ManagedDatabase['kind'], snapshotId: string, region?: string): Promise<SnapshotInfo | undefined>;
  /** Copies a snapshot into another region (and optionally another KMS key there). */
  copySnapshot(kind: ManagedDatabase['kind'], source: SnapshotInfo, targetRegion: string, copyId: string, tags: Record<string, string>, kmsKeyId?: string): Promise<SnapshotInfo>;
  deleteSnapshot(kind: ManagedDatabase['kind'], snapshotId: string, region?: string): Promise<void>;
  /** The continuous-backup window: earliest and latest restorable times. */
  restoreWindow(database: ManagedDatabase): Promise<{ earliest: number; latest: number }>;
  /**
   * Restores a snapshot into a new cluster or instance, in the network and with the settings of
   * `sourceIdentifier` (the backed-up database) when it still exists; an Aurora cluster gets a writer.
   */
  restoreFromSnapshot(kind: ManagedDatabase['kind'], snapshotId: string, targetIdentifier: string, sourceIdentifier: string): Promise<RestoredDatabase>;
  /** Starts the restore the plan describes, like restoreFromSnapshot. */
  restoreToPointInTime(plan: ManagedRecoveryPlan): Promise<RestoredDatabase>;
}
