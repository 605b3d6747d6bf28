import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseError, SseParser, type SseEvent } from '@herald/sdk/internal';

/** Feeds `chunks` one by one and collects every event. */
function parse(chunks: Array<string | Uint8Array>, options?: ConstructorParameters<typeof SseParser>[0]): SseEvent[] {
  const parser = new SseParser(options);
  return chunks.flatMap((chunk) => parser.push(chunk));
}

function types(events: SseEvent[]): Array<[string, string]> {
  return events.map((e) => [e.type, e.data]);
}

void describe('SseParser', () => {
  void it('parses event and data fields and dispatches on a blank line', () => {
    assert.deepEqual(types(parse(['event: hello\ndata: {"revision":1}\n\n'])), [['hello', '{"revision":1}']]);
  });

  void it('defaults the type to "message" and resets the type after each event', () => {
    assert.deepEqual(types(parse(['event: a\ndata: 1\n\ndata: 2\n\n'])), [
      ['a', '1'],
      ['message', '2'],
    ]);
  });

  void it('joins several data lines with \\n', () => {
    assert.deepEqual(types(parse(['data: one\ndata: two\ndata:\ndata: four\n\n'])), [['message', 'one\ntwo\n\nfour']]);
  });

  void it('removes one space after the colon, not more; a line without a colon is a field with an empty value', () => {
    assert.deepEqual(types(parse(['data:  two spaces\n\ndata:none\n\ndata\n\n'])), [
      ['message', ' two spaces'],
      ['message', 'none'],
      ['message', ''],
    ]);
  });

  void it('ignores comments, including heartbeats sent as comments, and unknown fields', () => {
    assert.deepEqual(types(parse([': keep-alive\n\n:\nfoo: bar\ndata: x\n: inside\n\n'])), [['message', 'x']]);
  });

  void it('does not dispatch an event without data', () => {
    assert.deepEqual(types(parse(['event: lonely\n\n', 'data: after\n\n'])), [['message', 'after']]);
  });

  void it('accepts CRLF, LF and CR line ends, mixed', () => {
    assert.deepEqual(types(parse(['event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\revent: c\ndata: 3\n\n'])), [
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]);
  });

  void it('treats a CR at the end of a chunk and an LF at the start of the next as one line end', () => {
    // Were the LF taken as a second line end, the blank line would dispatch "1" early without its second line.
    assert.deepEqual(types(parse(['data: 1\r', '\ndata: 2\r', '\n\r', '\n'])), [['message', '1\n2']]);
  });

  void it('handles an event split at every possible point', () => {
    const text = 'event: delta\r\ndata: {"a":1}\r\ndata: {"b":2}\r\n\r\n: c\nevent: heartbeat\ndata: {}\n\n';
    const whole = types(parse([text]));
    assert.equal(whole.length, 2);
    for (let i = 0; i <= text.length; i += 1) {
      for (let j = i; j <= text.length; j += 7) {
        assert.deepEqual(
          types(parse([text.slice(0, i), text.slice(i, j), text.slice(j)])),
          whole,
          `split at ${i}, ${j}`,
        );
      }
    }
    assert.deepEqual(types(parse([...text])), whole, 'one character per chunk');
  });

  void it('decodes UTF-8 split inside a multi-byte character', () => {
    const bytes = new TextEncoder().encode('data: é€😀\n\n');
    for (let i = 0; i <= bytes.length; i += 1) {
      assert.deepEqual(types(parse([bytes.subarray(0, i), bytes.subarray(i)])), [['message', 'é€😀']]);
    }
  });

  void it('skips a byte-order mark at the start of the stream only', () => {
    assert.deepEqual(types(parse(['\uFEFFdata: 1\n\n'])), [['message', '1']]);
    assert.deepEqual(types(parse([new Uint8Array([0xef, 0xbb, 0xbf]), 'data: 1\n\n'])), [['message', '1']]);
  });

  void it('keeps the last id and parses retry', () => {
    const parser = new SseParser();
    const events = parser.push('id: 7\ndata: a\n\ndata: b\n\nretry: 2500\nretry: soon\nid: bad\0id\ndata: c\n\n');
    assert.deepEqual(
      events.map((e) => e.lastEventId),
      ['7', '7', '7'],
    );
    assert.equal(parser.retry, 2500);
  });

  void it('drops an unfinished event at the end and says so', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: complete\n\ndata: partial\n'), [
      { type: 'message', data: 'complete', lastEventId: '' },
    ]);
    assert.equal(parser.end(), true);
    const clean = new SseParser();
    clean.push('data: complete\n\n');
    assert.equal(clean.end(), false);
  });

  void it('bounds the size of one event, whether one long line or many data lines', () => {
    assert.throws(() => parse(['data: ', 'x'.repeat(100), 'y'.repeat(100)], { maxEventSize: 150 }), SseError);
    assert.throws(
      () => parse(['data: 0123456789\n'.repeat(20)], { maxEventSize: 150 }),
      (e: SseError) => e.code === 'sse_event_too_large',
    );
    // The bound is per event: many small events pass.
    assert.equal(parse(['data: 0123456789\n\n'.repeat(100)], { maxEventSize: 150 }).length, 100);
  });

  void it('does not rescan a long line for every chunk (a 4 MB event in 4,096 chunks stays fast)', () => {
    const parser = new SseParser();
    const piece = 'x'.repeat(1024);
    parser.push('data: ');
    let events: SseEvent[] = [];
    for (let i = 0; i < 4096; i += 1) events = events.concat(parser.push(piece));
    events = events.concat(parser.push('\n\n'));
    assert.equal(events.length, 1);
    assert.equal(events[0]?.data.length, 4096 * 1024);
  });
});
