// Delta merging in the Entra connector: a partial delta record never blanks what it does not carry.
import { describe, expect, it } from 'vitest';
import { mergeDevice, mergedPages } from '../../src/entra/merge.js';
import { sampleDevice } from '../support/fake-source.js';

describe('delta merge', () => {
  it('keeps properties a partial record does not carry, and takes explicit nulls', () => {
    const full = sampleDevice(1);
    const merged = mergeDevice(full, { id: full.id, displayName: 'new' });
    expect(merged).toEqual({ ...full, displayName: 'new' });
    expect(
      mergeDevice(full, { id: full.id, operatingSystemVersion: null }).operatingSystemVersion,
    ).toBeNull();
    const fresh = mergeDevice(undefined, { id: 'x', displayName: 'only' });
    expect(fresh.physicalIds).toEqual([]);
    expect(fresh.displayName).toBe('only');
  });
});

describe('merged pages', () => {
  it('merges a delta record with what the read saw before, else with the last known state', async () => {
    const known = sampleDevice(1);
    async function* pages() {
      yield {
        kind: 'page' as const,
        changes: [{ kind: 'upsert' as const, device: { id: known.id, displayName: 'A' } }],
      };
      yield {
        kind: 'page' as const,
        changes: [
          { kind: 'upsert' as const, device: { id: known.id, operatingSystemVersion: '11' } },
          { kind: 'removed' as const, id: 'gone', reason: 'deleted' as const },
        ],
        deltaLink: 'https://graph/delta?t=2',
      };
    }
    const asked: string[][] = [];
    const out = [];
    for await (const event of mergedPages(pages(), false, async (ids) => {
      asked.push(ids);
      return new Map([[known.id, known]]);
    }))
      out.push(event);
    expect(asked).toEqual([[known.id]]); // looked up once: the second record merges with the first
    const last = out[1];
    expect(last?.kind === 'page' && last.changes[0]).toEqual({
      kind: 'upsert',
      device: { ...known, displayName: 'A', operatingSystemVersion: '11' },
    });
    expect(last?.kind === 'page' && last.deltaLink).toBe('https://graph/delta?t=2');
  });

  it('completes the records of a full read on their own, and after a reset', async () => {
    async function* pages() {
      yield { kind: 'reset' as const, reason: 'syncStateNotFound' };
      yield {
        kind: 'page' as const,
        changes: [{ kind: 'upsert' as const, device: { id: 'x', displayName: 'only' } }],
      };
    }
    const out = [];
    for await (const event of mergedPages(pages(), false, async () => {
      throw new Error('a full read needs no last known state');
    }))
      out.push(event);
    expect(out[0]).toEqual({ kind: 'reset', reason: 'syncStateNotFound' });
    expect(out[1]?.kind === 'page' && out[1].changes[0]).toMatchObject({
      device: { id: 'x', physicalIds: [] },
    });
  });
});
