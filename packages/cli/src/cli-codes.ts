/**
 * Codes of failures the CLI finds itself (not a server's refusal, which keeps the server's code):
 * printed in brackets at the end of the `herald: …` line, documented in docs/errors.md.
 */
export const cliErrorCodes = ['backup_unverified'] as const;

export type CliErrorCode = (typeof cliErrorCodes)[number];
