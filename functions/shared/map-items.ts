import type { ObjectStore } from '../ports/object-store';

/** Key prefix of the item lists a workflow writes for its Distributed Map; Map results go under MAP_RESULTS_PREFIX. */
export const MAP_ITEMS_PREFIX = 'plans/';
export const MAP_RESULTS_PREFIX = 'results';

/** Where a workflow writes a Distributed Map's items, so no fleet is too large for a state's 256 KB. */
export interface MapItemsOutput {
  objects: ObjectStore;
  /** Key prefix; a run's items go to `<prefix><run>.json`. */
  prefix: string;
}

/** Writes the items as one JSON array, the form an S3JsonItemReader reads, and returns its key. */
export async function writeMapItems(output: MapItemsOutput, run: string, items: readonly unknown[]): Promise<string> {
  const key = `${output.prefix}${encodeURIComponent(run)}.json`;
  await output.objects.put(key, JSON.stringify(items), { contentType: 'application/json', metadata: { items: String(items.length) } });
  return key;
}
