import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// zod/mini loads no messages: every problem would read "Invalid input". Configs, environments
// and events must say what is wrong (a typo'd key, a number too small), so the modules that parse
// with zod/mini import this for English, and only English (the locales index holds every language).
config(en());
