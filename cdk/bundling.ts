/**
 * The banner of every ESM bundle: bundled CommonJS code calls `require`, which ESM lacks. The import
 * is aliased because a bundled module may import createRequire itself.
 */
export const ESM_REQUIRE_BANNER = "import { createRequire as requireFromBundle } from 'module'; const require = requireFromBundle(import.meta.url);";
