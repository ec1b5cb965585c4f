#!/usr/bin/env node
// Entry of the `shardkeeper` bin: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./process-main.ts');
await main();
