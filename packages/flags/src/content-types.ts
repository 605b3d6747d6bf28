/**
 * How Herald tells flags from other entries. In the admin API an entry is a flag by its content
 * type; in a delivered view (which carries values, not content types) by its key (`$evaluators`)
 * and by its shape (see isFlagDefinition in flagd-flag.ts).
 */

/** A flagd flag definition; the entry's key is the flag key. */
export const flagContentType = 'application/vnd.herald.flag+json';

/** The shared `$evaluators` of a namespace's flags (flagd's `$evaluators`: name → JSON Logic). */
export const evaluatorsContentType = 'application/vnd.herald.flag-evaluators+json';

/** The one key that holds a label's shared evaluators. */
export const evaluatorsKey = '$evaluators';

/** Azure App Configuration's feature flags: this key prefix with this content type. */
export const azureFlagPrefix = '.appconfig.featureflag/';
export const azureFlagContentType = 'application/vnd.microsoft.appconfig.ff+json;charset=utf-8';

function mediaType(contentType: string): string {
  return contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

export function isFlagContentType(contentType: string): boolean {
  return mediaType(contentType) === flagContentType;
}

export function isEvaluatorsContentType(contentType: string): boolean {
  return mediaType(contentType) === evaluatorsContentType;
}

/** True for an Azure feature flag: its key prefix and its content type (parameters ignored), as Microsoft's providers read them. */
export function isAzureFlag(key: string, contentType: string): boolean {
  return key.startsWith(azureFlagPrefix) && mediaType(contentType) === mediaType(azureFlagContentType);
}
