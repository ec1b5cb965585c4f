import { describe, expect, it } from 'vitest';
import { canTransition, recoveryStep, unitReadyToDrop } from '../../../functions/core/archive-manifest';

describe('the batch manifest state machine', () => {
  it('lets a row-deleting batch go planned → uploaded → deleted → checkpointed, and never skip the verification', () => {
    expect(canTransition('planned', 'uploaded', 'rows')).toBe(true);
    expect(canTransition('uploaded', 'deleted', 'rows')).toBe(true);
    expect(canTransition('deleted', 'checkpointed', 'rows')).toBe(true);
    expect(canTransition('planned', 'deleted', 'rows')).toBe(false);
    expect(canTransition('planned', 'checkpointed', 'rows')).toBe(false);
    expect(canTransition('uploaded', 'checkpointed', 'rows')).toBe(false);
  });

  it('lets a detached unit batch be checkpointed straight after verification, never "deleted"', () => {
    expect(canTransition('uploaded', 'checkpointed', 'none')).toBe(true);
    expect(canTransition('uploaded', 'deleted', 'none')).toBe(false);
  });

  it('abandons only batches whose rows were never deleted', () => {
    expect(canTransition('planned', 'abandoned', 'rows')).toBe(true);
    expect(canTransition('uploaded', 'abandoned', 'rows')).toBe(true);
    expect(canTransition('deleted', 'abandoned', 'rows')).toBe(false);
    expect(canTransition('checkpointed', 'abandoned', 'rows')).toBe(false);
  });

  it('recovers a planned batch by abandoning it, an uploaded one by finishing its delete, a deleted one by checkpointing', () => {
    expect(recoveryStep('planned', 'rows')).toBe('abandon');
    expect(recoveryStep('uploaded', 'rows')).toBe('finish-delete');
    expect(recoveryStep('uploaded', 'none')).toBe('checkpoint');
    expect(recoveryStep('deleted', 'rows')).toBe('checkpoint');
    expect(() => recoveryStep('checkpointed', 'rows')).toThrow(/finished/);
  });
});

describe('dropping a detached table', () => {
  it('is allowed only when its rows equal the rows of its verified batches and none is in flight', () => {
    expect(unitReadyToDrop(30, [{ state: 'checkpointed', rowCount: 20 }, { state: 'uploaded', rowCount: 10 }, { state: 'abandoned', rowCount: 10 }])).toEqual({ ready: true });
    expect(unitReadyToDrop(31, [{ state: 'checkpointed', rowCount: 30 }])).toMatchObject({ ready: false, reason: expect.stringMatching(/31 rows but verified batches hold 30/) });
    expect(unitReadyToDrop(10, [{ state: 'checkpointed', rowCount: 5 }, { state: 'planned', rowCount: 5 }])).toMatchObject({ ready: false, reason: expect.stringMatching(/not yet verified/) });
  });
});
