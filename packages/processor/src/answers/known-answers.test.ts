import { describe, expect, it } from 'vitest';
import { KnownAnswers } from './known-answers.js';

describe('KnownAnswers', () => {
  const now = 1_000_000;

  it('never forgets a live answer, and rarely claims one it never saw', () => {
    const known = new KnownAnswers({ windowMs: 60_000, expectedPerWindow: 10_000 });
    for (let i = 0; i < 10_000; i++) known.add(`tenant\u0000${i.toString(16)}`, now + 30_000, now);
    for (let i = 0; i < 10_000; i++) expect(known.mightHave(`tenant\u0000${i.toString(16)}`, now)).toBe(true);
    let falsePositives = 0;
    for (let i = 0; i < 10_000; i++) if (known.mightHave(`other\u0000${i.toString(16)}`, now)) falsePositives++;
    // Sized for 1%; a filter that said "maybe" to everything would fail here.
    expect(falsePositives).toBeLessThan(250);
  });

  it('drops a whole window once every answer in it has expired, and keeps two windows at most', () => {
    const known = new KnownAnswers({ windowMs: 60_000, expectedPerWindow: 100 });
    const start = 60_000 * 100; // the start of a window
    known.add('a', start + 10_000, start);
    known.add('b', start + 70_000, start); // the next window
    expect(known.bytes).toBe(2 * 120);
    expect(known.mightHave('a', start + 59_000)).toBe(true);
    expect(known.mightHave('a', start + 60_000)).toBe(false);
    expect(known.mightHave('b', start + 60_000)).toBe(true);
    expect(known.bytes).toBe(120);
    // An expiry far ahead goes into the furthest window kept.
    known.add('far', start + 10 * 60_000, start + 60_000);
    expect(known.bytes).toBe(2 * 120);
  });
});
