import type { HeraldError } from '@herald/core';
import { errorCatalogue, type ErrorCode } from '@herald/core';

export const problemContentType = 'application/problem+json; charset=utf-8';

/** The problem+json body (RFC 9457). The only wire shape of an error. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  /** The request id; it is in every log line of the request, so an operator can grep for it. */
  instance: string;
  [extension: string]: unknown;
}

export function toProblem(error: HeraldError, requestId: string): ProblemDocument {
  return {
    ...error.extensions,
    type: `urn:herald:error:${error.code}`,
    title: errorCatalogue[error.code].title,
    status: error.status,
    code: error.code,
    detail: error.message,
    instance: requestId,
  };
}
