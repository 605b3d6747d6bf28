// How a long-lived command ends on a signal, with an emitter standing in for the process.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { CliError } from '../src/output.js';
import { runUntilSignal, stopSignals, type SignalSource } from '../src/run-until-signal.js';

function signals(): SignalSource & { send(signal: NodeJS.Signals): void; count(): number } {
  const emitter = new EventEmitter();
  return {
    on: (signal, listener) => emitter.on(signal, listener),
    off: (signal, listener) => emitter.off(signal, listener),
    send: (signal) => emitter.emit(signal, signal),
    count: () => stopSignals.reduce((n, signal) => n + emitter.listenerCount(signal), 0),
  };
}

const quiet = { stopping: () => undefined };

void describe('runUntilSignal', () => {
  for (const signal of stopSignals) {
    void it(`closes the resource on ${signal} and resolves with the signal`, async () => {
      const source = signals();
      let closed = 0;
      const running = runUntilSignal({ close: async () => void (closed += 1) }, { ...quiet, signals: source });
      assert.equal(closed, 0);
      source.send(signal);
      assert.equal(await running, signal);
      assert.equal(closed, 1);
      assert.equal(source.count(), 0, 'no listener left behind');
    });
  }

  void it('says it is stopping, once', async () => {
    const source = signals();
    const said: string[] = [];
    const running = runUntilSignal(
      { close: async () => undefined },
      { signals: source, stopping: (signal) => said.push(signal) },
    );
    source.send('SIGTERM');
    await running;
    assert.deepEqual(said, ['SIGTERM']);
  });

  void it('a failed close is a failed shutdown: a CliError with exit code 1', async () => {
    const source = signals();
    const running = runUntilSignal(
      { close: () => Promise.reject(new Error('disk gone')) },
      { ...quiet, signals: source },
    );
    source.send('SIGINT');
    await assert.rejects(running, (error) => {
      assert.ok(error instanceof CliError);
      assert.equal(error.exitCode, 1);
      assert.match(error.message, /shutdown failed: disk gone/u);
      return true;
    });
  });

  void it('a second signal forces it: destroy, exit code 1', async () => {
    const source = signals();
    let destroyed = 0;
    const running = runUntilSignal(
      { close: () => new Promise(() => undefined), destroy: () => void (destroyed += 1) },
      { ...quiet, signals: source },
    );
    source.send('SIGTERM');
    await new Promise((resolve) => setImmediate(resolve));
    source.send('SIGINT');
    await assert.rejects(running, (error) => error instanceof CliError && /SIGINT again/u.test(error.message));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(destroyed, 1);
    assert.equal(source.count(), 0);
  });

  void it('a close that outlasts the grace is forced too', async () => {
    const source = signals();
    let destroyed = 0;
    const running = runUntilSignal(
      { close: () => new Promise(() => undefined), destroy: () => void (destroyed += 1) },
      { ...quiet, signals: source, graceMs: 20 },
    );
    source.send('SIGHUP');
    await assert.rejects(running, (error) => error instanceof CliError && /did not stop within/u.test(error.message));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(destroyed, 1);
  });

  void it('resolves with no signal when the resource ended by itself, closing nothing', async () => {
    const source = signals();
    let closed = 0;
    let end: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const running = runUntilSignal({ close: async () => void (closed += 1) }, { ...quiet, signals: source, ended });
    end();
    assert.equal(await running, undefined);
    assert.equal(closed, 0);
    assert.equal(source.count(), 0);
  });
});
