import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRulesSource } from '../../../src/dsl/index.js';

// The checker validates `store "..."` with the runtime's own URL parser, so
// `check` accepts exactly the stores the filter can open.
const withStore = (url: string): string => `chain c = greylist store "${url}"\n`;

test('store URLs the runtime opens are accepted by the rules checker', () => {
  for (const url of [
    'sqlite:/var/lib/filter-rules/greylist.db',
    'redis://127.0.0.1:6379/2',
    'redis://:s3cret@10.0.0.5:6379/0',
    'valkey://[::1]:6379',
    'redis+unix:///run/redis/redis.sock?db=1',
  ]) {
    const r = compileRulesSource(withStore(url), 'store.rules');
    assert.equal(r.ok, true, `${url}: ${r.ok ? '' : r.diagnostics.map((d) => d.message).join('; ')}`);
  }
});

test('store URLs the runtime would refuse are located errors', () => {
  for (const url of ['sqlite:relative.db', 'mysql://localhost', 'redis://host/notanumber', 'sqlite:/var/lib/dir/']) {
    const r = compileRulesSource(withStore(url), 'store.rules');
    assert.equal(r.ok, false, url);
    if (!r.ok) {
      const d = r.diagnostics.find((x) => x.code === 'E025');
      assert.ok(d, `${url}: expected E025, got ${r.diagnostics.map((x) => x.code).join(',')}`);
      assert.equal(d.span.line, 1);
      assert.equal(d.span.column, 26); // the opening quote of the URL string
    }
  }
});
