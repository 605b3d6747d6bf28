import { checkJsonDepth, HeraldError, type Limits } from '@herald/core';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a JSON request body strictly: invalid UTF-8 is refused rather than replaced with U+FFFD
 * (which would silently change a value), and nesting depth is bounded before anything else sees it.
 */
export function parseJsonBody(body: Buffer, limits: Pick<Limits, 'maxJsonDepth'>): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    throw new HeraldError('invalid_utf8', 'the request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new HeraldError('invalid_json', 'the request body is empty; send a JSON document');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new HeraldError('invalid_json', `the request body is not valid JSON: ${(cause as Error).message}`);
  }
  // Request bodies wrap values in one or two levels of envelope (changes[].value), hence the margin.
  checkJsonDepth(parsed, { maxJsonDepth: limits.maxJsonDepth + 4 });
  return parsed;
}
