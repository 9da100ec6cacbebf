/**
 * A small seeded PRNG for tests that draw inputs at random but must draw the
 * same ones on every run and every machine (Math.random cannot be seeded, and
 * fast-check's generation may change between its versions).
 */

/** mulberry32: uniform numbers in [0, 1), a pure function of the seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
