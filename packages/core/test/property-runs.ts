// How many cases each property tries: a bounded number in `npm test`, more with HERALD_PROPERTY_RUNS
// (RELIABILITY.md lists the figures of a long run). Every suite prints its figures as one line of
// JSON, so a run's totals can be read off the output.
import fc from 'fast-check';

const configured = Number(process.env.HERALD_PROPERTY_RUNS);

/** Cases per property: HERALD_PROPERTY_RUNS when it is a positive whole number, else `fallback`. */
export function propertyRuns(fallback = 200): number {
  return Number.isSafeInteger(configured) && configured > 0 ? configured : fallback;
}

/** Counts the cases a suite tried and prints them once, as `{"suite":…,"cases":…}`. */
export class CaseCounter {
  readonly #suite: string;
  #cases = 0;

  constructor(suite: string) {
    this.#suite = suite;
  }

  add(count = 1): void {
    this.#cases += count;
  }

  get cases(): number {
    return this.#cases;
  }

  print(extra: Record<string, number> = {}): void {
    console.log(JSON.stringify({ suite: this.#suite, cases: this.#cases, ...extra }));
  }
}

/** A property check over `numRuns` cases that counts them on `counter`: `check(arbitrary, predicate)`. */
export function propertyCheck(
  counter: CaseCounter,
  numRuns: number,
): <T>(arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void) => void {
  return (arbitrary, predicate) =>
    fc.assert(
      fc.property(arbitrary, (value) => {
        counter.add();
        predicate(value);
      }),
      { numRuns },
    );
}
