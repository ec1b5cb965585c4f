import { join, resolve } from 'node:path';

/** The sandbox keeps its state under `.sandbox/` of the folder it runs in. */
export const SANDBOX_DIR = resolve('.sandbox');
export const SANDBOX_STATE_FILE = join(SANDBOX_DIR, 'sandbox.json');
