// Where things are. The bench runs from any cwd.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT_DIR = dirname(BENCH_DIR);
export const OUR_FILTER = join(ROOT_DIR, 'dist', 'src', 'cli', 'main.js');
export const RULES_DIR = join(BENCH_DIR, 'rules');
export const NAIVE_FILTER = join(BENCH_DIR, 'ref', 'naive-filter.py');
