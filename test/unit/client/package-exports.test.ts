import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('the package export', () => {
  it('ships the routing client built, with its type declarations, as the README imports it', async () => {
    const entry = (JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, { types: string; import: string }> }).exports['.']!;
    expect(readFileSync(entry.types, 'utf8')).toMatch(/export declare class ShardRoutingClient/);
    const built = (await import(pathToFileURL(resolve(entry.import)).href)) as { ShardRoutingClient: { connect: unknown } };
    expect(typeof built.ShardRoutingClient.connect).toBe('function');
  });
});
