/**
 * The largest magnitude any numeric request parameter or body field may have. Query strings are
 * coerced by ajv, which reads "Infinity" and "1e309" as Infinity and still calls it an integer;
 * JSON bodies read 1e309 as Infinity too. Neither may reach a store's SQL text.
 */
export const maxRequestNumber = Number.MAX_SAFE_INTEGER;

const nested = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;

/**
 * Gives every `integer` and `number` in a request schema a finite `minimum` and `maximum` unless it
 * already has one, so every numeric parameter is a finite number within documented bounds on every
 * route, including routes added later. The bounds also appear in the OpenAPI document.
 */
export function boundRequestNumbers(schema: unknown): void {
  if (typeof schema !== 'object' || schema === null) return;
  if (Array.isArray(schema)) {
    for (const item of schema) boundRequestNumbers(item);
    return;
  }
  const node = schema as Record<string, unknown>;
  const types = Array.isArray(node.type) ? (node.type as unknown[]) : [node.type];
  if (types.includes('integer') || types.includes('number')) {
    if (node.maximum === undefined && node.exclusiveMaximum === undefined) node.maximum = maxRequestNumber;
    if (node.minimum === undefined && node.exclusiveMinimum === undefined) node.minimum = -maxRequestNumber;
  }
  for (const keyword of ['properties', 'patternProperties'] as const) {
    const members = node[keyword];
    if (typeof members === 'object' && members !== null)
      for (const member of Object.values(members)) boundRequestNumbers(member);
  }
  for (const keyword of [...nested, 'items', 'additionalProperties', 'not'] as const)
    boundRequestNumbers(node[keyword]);
}

/**
 * The JSON-pointer path of the first non-finite number in `data` where `schema` declares an
 * integer or a number, or undefined. Values the schema leaves open (an entry's `value`) are the
 * entry codec's to judge (`invalid_value`), not this check's.
 */
export function nonFiniteNumberPath(schema: unknown, data: unknown, path = ''): string | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const node = schema as Record<string, unknown>;
  if (typeof data === 'number') {
    const types = Array.isArray(node.type) ? (node.type as unknown[]) : [node.type];
    if ((types.includes('integer') || types.includes('number')) && !Number.isFinite(data)) return path || '/';
  }
  for (const keyword of nested) {
    const options = node[keyword];
    if (Array.isArray(options))
      for (const option of options) {
        const found = nonFiniteNumberPath(option, data, path);
        if (found !== undefined) return found;
      }
  }
  if (typeof data !== 'object' || data === null) return undefined;
  if (Array.isArray(data)) {
    for (const [i, item] of data.entries()) {
      const found = nonFiniteNumberPath(node.items, item, `${path}/${i}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const properties = (node.properties ?? {}) as Record<string, unknown>;
  for (const [name, member] of Object.entries(data)) {
    const found = nonFiniteNumberPath(
      Object.hasOwn(properties, name) ? properties[name] : node.additionalProperties,
      member,
      `${path}/${name}`,
    );
    if (found !== undefined) return found;
  }
  return undefined;
}

type Validate = ((data: unknown) => unknown) & { errors?: unknown };

/**
 * Wraps a compiled request validator: ajv coerces "Infinity" to Infinity and then skips
 * `maximum` for it (it checks bounds on finite numbers only), so what passed is checked once more.
 */
export function refuseNonFinite(schema: unknown, validate: Validate): Validate {
  const wrapped: Validate = (data: unknown) => {
    const valid = validate(data);
    wrapped.errors = validate.errors;
    if (valid !== true) return valid;
    const path = nonFiniteNumberPath(schema, data);
    if (path === undefined) return true;
    wrapped.errors = [
      { instancePath: path, schemaPath: '#', keyword: 'type', params: {}, message: 'must be a finite number' },
    ];
    return false;
  };
  return wrapped;
}
