/**
 * A single-consumer async queue that is its own async iterator: the producer `push`es and `end`s,
 * the consumer iterates with `for await`. Breaking out of the loop (or calling `return`) detaches
 * it, and the queue is dropped. Used for `changes()` and `status()`.
 */
export class Channel<T> implements AsyncIterableIterator<T, undefined> {
  readonly #queue: T[] = [];
  readonly #waiting: Array<(result: IteratorResult<T, undefined>) => void> = [];
  readonly #onDetach: (() => void) | undefined;
  #done = false;

  constructor(onDetach?: () => void) {
    this.#onDetach = onDetach;
  }

  get done(): boolean {
    return this.#done;
  }

  push(value: T): void {
    if (this.#done) return;
    const waiter = this.#waiting.shift();
    if (waiter) waiter({ value, done: false });
    else this.#queue.push(value);
  }

  /** No more values: the consumer gets what is queued, then the end. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    for (const waiter of this.#waiting.splice(0)) waiter({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift() as T, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  return(): Promise<IteratorResult<T, undefined>> {
    this.#queue.length = 0;
    this.end();
    this.#onDetach?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
