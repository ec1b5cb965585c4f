/**
 * The life of one archive batch, recorded in the catalog before each side effect:
 *
 *   planned ──upload+verify──▶ uploaded ──delete keys──▶ deleted ──advance cursor──▶ checkpointed
 *      └───────────── abandoned (object removed, rows untouched) ◀──────┘
 *
 * `planned` is written before the object exists, so every object has a manifest row; rows are
 * deleted only from `uploaded`, i.e. after the object was verified. Batches of a detached partition
 * or date-named table skip the delete (the whole table is dropped once every batch is verified).
 */

export const BATCH_STATES = ['planned', 'uploaded', 'deleted', 'checkpointed', 'abandoned'] as const;
export type BatchState = (typeof BATCH_STATES)[number];

/** `rows`: delete the archived keys from the live table; `none`: rows go when their detached table is dropped. */
export type DeleteMode = 'rows' | 'none';

const NEXT: Record<BatchState, readonly BatchState[]> = {
  planned: ['uploaded', 'abandoned'],
  uploaded: ['deleted', 'checkpointed', 'abandoned'],
  deleted: ['checkpointed'],
  checkpointed: [],
  abandoned: [],
};

export function canTransition(from: BatchState, to: BatchState, deleteMode: DeleteMode): boolean {
  if (from === 'uploaded' && to === 'checkpointed') return deleteMode === 'none';
  if (from === 'uploaded' && to === 'deleted') return deleteMode === 'rows';
  return NEXT[from].includes(to);
}

export const UNFINISHED_STATES: readonly BatchState[] = ['planned', 'uploaded', 'deleted'];
/** States whose object holds verified rows: what restore reads and what a dropped table's rows live in. */
export const VERIFIED_STATES: readonly BatchState[] = ['uploaded', 'deleted', 'checkpointed'];

/**
 * What a re-run does with a batch an earlier run left unfinished:
 * - `abandon`: the object was never verified, so no row was deleted; remove the object and re-select.
 * - `finish-delete`: re-verify the object, then delete exactly its keys still on the shard with the archived content.
 * - `checkpoint`: only the cursor is left to advance.
 */
export type RecoveryStep = 'abandon' | 'finish-delete' | 'checkpoint';

export function recoveryStep(state: BatchState, deleteMode: DeleteMode): RecoveryStep {
  switch (state) {
    case 'planned':
      return 'abandon';
    case 'uploaded':
      return deleteMode === 'rows' ? 'finish-delete' : 'checkpoint';
    case 'deleted':
      return 'checkpoint';
    default:
      throw new RangeError(`a ${state} batch is finished; nothing to recover`);
  }
}

export interface UnitBatchSummary {
  state: BatchState;
  rowCount: number;
}

/**
 * A detached table may be dropped only when its rows are exactly the rows of its verified batches
 * (the scan is in key order and batches never overlap, so equal counts mean every row is archived once)
 * and no batch is still in flight.
 */
export function unitReadyToDrop(tableRows: number, batches: readonly UnitBatchSummary[]): { ready: true } | { ready: false; reason: string } {
  const inFlight = batches.filter((batch) => batch.state === 'planned').length;
  if (inFlight > 0) return { ready: false, reason: `${inFlight} batch(es) not yet verified` };
  const archived = batches.filter((batch) => VERIFIED_STATES.includes(batch.state)).reduce((sum, batch) => sum + batch.rowCount, 0);
  if (archived !== tableRows) return { ready: false, reason: `the table holds ${tableRows} rows but verified batches hold ${archived}` };
  return { ready: true };
}
