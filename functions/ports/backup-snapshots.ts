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

/** Cluster and instance snapshots, and the service's point-in-time restore. */
export interface SnapshotService {
  createSnapshot(database: ManagedDatabase, snapshotId: string, tags: Record<string, string>): Promise<SnapshotInfo>;
  describeSnapshot(kind: ManagedDatabase['kind'], snapshotId: string, region?: string): Promise<SnapshotInfo | undefined>;
  /** Copies a snapshot into another region (and optionally another KMS key there). */
  copySnapshot(kind: ManagedDatabase['kind'], source: SnapshotInfo, targetRegion: string, copyId: string, tags: Record<string, string>, kmsKeyId?: string): Promise<SnapshotInfo>;
  deleteSnapshot(kind: ManagedDatabase['kind'], snapshotId: string, region?: string): Promise<void>;
  /** The continuous-backup window: earliest and latest restorable times. */
  restoreWindow(database: ManagedDatabase): Promise<{ earliest: number; latest: number }>;
  /** Restores a snapshot into a new cluster or instance; returns its ARN. */
  restoreFromSnapshot(kind: ManagedDatabase['kind'], snapshotId: string, targetIdentifier: string): Promise<string>;
  /** Starts the restore the plan describes; returns the new cluster's or instance's ARN. */
  restoreToPointInTime(plan: ManagedRecoveryPlan): Promise<string>;
}
