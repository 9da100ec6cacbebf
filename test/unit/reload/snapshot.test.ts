import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { changedFiles, Snapshot } from '../../../src/reload/snapshot.js';
import { MemoryFs } from './helpers.js';

describe('Snapshot', () => {
  test('hashes content; a missing file hashes as its error code', async () => {
    const fs = new MemoryFs();
    fs.write('/a', 'one');
    const s = await Snapshot.read(['/a', '/b'], fs.readFile);
    const fp = s.fingerprint();
    assert.match(fp.get('/a') ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(fp.get('/b'), '!ENOENT');
    assert.equal(s.errorCode('/b'), 'ENOENT');
    assert.equal(s.text('/a'), 'one');
    assert.equal(s.text('/b'), undefined);
  });

  test('changedFiles: differing or new paths of the newer fingerprint', async () => {
    const fs = new MemoryFs();
    fs.write('/a', 'one');
    fs.write('/b', 'two');
    const before = (await Snapshot.read(['/a', '/b', '/gone'], fs.readFile)).fingerprint();
    fs.write('/b', 'TWO');
    fs.write('/c', 'three');
    const after = (await Snapshot.read(['/a', '/b', '/c'], fs.readFile)).fingerprint();
    assert.deepEqual(changedFiles(before, after), ['/b', '/c']);
    assert.deepEqual(changedFiles(after, after), []);
  });

  test('reader serves the snapshot, rethrows read errors, reports misses', async () => {
    const fs = new MemoryFs();
    fs.write('/a', 'one');
    const s = await Snapshot.read(['/a', '/missing'], fs.readFile);
    fs.write('/a', 'changed after the snapshot');
    const reads: string[] = [];
    const misses: string[] = [];
    const read = s.reader(
      (p) => reads.push(p),
      (p) => misses.push(p),
    );
    assert.equal(read('/a'), 'one', 'the bytes of the snapshot, not the disk');
    assert.throws(() => read('/missing'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && /no such file/.test(e.message));
    assert.throws(() => read('/x/../new'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.deepEqual(misses, ['/new']);
    assert.deepEqual(reads, ['/a', '/missing', '/new']);
    fs.write('/new', 'fresh');
    await s.add(misses);
    assert.equal(read('/new'), 'fresh', 'read in after the miss');
    assert.equal(s.has('/new'), true);
  });
});
