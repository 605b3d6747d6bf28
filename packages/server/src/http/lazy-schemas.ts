/**
 * fastify compiles every route's validators (ajv) and response serializers (fast-json-stringify)
 * while the server starts: about half a second of a restart on these machines, spent on routes
 * most restarts never see before the next one. These factories hand fastify a function per route
 * that compiles its schema the first time a request needs it; the compiled function is kept, so
 * each schema is still compiled once, with the same compiler and options.
 */

/** What fastify expects of a validator: a call, and the errors of the last failed call. */
export interface LazyValidate {
  (data: unknown): unknown;
  errors?: unknown;
}

type RouteCompiler<Route, Fn> = (route: Route) => Fn;

/** Wraps a validator factory (`schemaController.compilersFactory.buildValidator`) so that each route compiles on first use. */
export function lazyValidatorFactory<External, Options, Route>(
  build: (externalSchemas: External, options: Options) => RouteCompiler<Route, LazyValidate>,
): (externalSchemas: External, options: Options) => RouteCompiler<Route, LazyValidate> {
  return (externalSchemas, options) => {
    let compiler: RouteCompiler<Route, LazyValidate> | undefined;
    return (route) => {
      let compiled: LazyValidate | undefined;
      const validate: LazyValidate = (data) => {
        compiled ??= (compiler ??= build(externalSchemas, options))(route);
        const result = compiled(data);
        validate.errors = compiled.errors;
        return result;
      };
      return validate;
    };
  };
}

/** Wraps a serializer factory (`compilersFactory.buildSerializer`) so that each response schema compiles on first use. */
export function lazySerializerFactory<External, Options, Route>(
  build: (externalSchemas: External, options: Options) => RouteCompiler<Route, (data: unknown) => string>,
): (externalSchemas: External, options: Options) => RouteCompiler<Route, (data: unknown) => string> {
  return (externalSchemas, options) => {
    let compiler: RouteCompiler<Route, (data: unknown) => string> | undefined;
    return (route) => {
      let compiled: ((data: unknown) => string) | undefined;
      return (data) => (compiled ??= (compiler ??= build(externalSchemas, options))(route))(data);
    };
  };
}
