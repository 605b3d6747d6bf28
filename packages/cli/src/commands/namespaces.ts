import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { HeraldApiError } from '@herald/sdk';
import type { NamespaceView } from '@herald/server';
import { adminClient, nsPath } from '../admin-client.js';
import { clientCommand, type ClientFlags } from '../flags.js';
import { CliError, printJson, printLine } from '../output.js';

/** Reads a YAML or JSON file (YAML is a superset of JSON). */
export function readStructuredFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return parseYaml(text, { maxAliasCount: 100 }) as unknown;
  } catch (error) {
    throw new CliError(`${path} is not valid YAML or JSON: ${(error as Error).message.split('\n')[0] ?? ''}`);
  }
}

/** A schema file is either {document?, prefixes?} or a plain JSON Schema, taken as the document schema. */
function readSchemaFile(path: string): unknown {
  const content = readStructuredFile(path);
  if (typeof content !== 'object' || content === null || Array.isArray(content))
    throw new CliError(`${path} must hold a JSON Schema object`);
  const keys = Object.keys(content);
  const wrapped = keys.length > 0 && keys.every((k) => k === 'document' || k === 'prefixes');
  return wrapped ? content : { document: content };
}

export function registerNamespaceCommands(program: Command): void {
  const ns = program.command('ns').description('create, list, show and delete namespaces');

  clientCommand(ns.command('create <ns>').description('create a namespace'))
    .option('--description <text>', 'what the namespace is for')
    .option('--schema <file>', 'JSON Schema (YAML or JSON) every write is validated against')
    .action(async (name: string, flags: ClientFlags & { description?: string; schema?: string }) => {
      const created = await adminClient(flags).post<NamespaceView>('/v1/namespaces', {
        name,
        ...(flags.description ? { description: flags.description } : {}),
        ...(flags.schema ? { schema: readSchemaFile(flags.schema) } : {}),
      });
      if (flags.json) printJson(created);
      else printLine(`created namespace ${created.name}`);
    });

  clientCommand(ns.command('list').description('list namespaces')).action(async (flags: ClientFlags) => {
    const items = await adminClient(flags).all<NamespaceView>('/v1/namespaces');
    if (flags.json) return printJson({ items });
    for (const item of items)
      printLine(
        `${item.name}\t${item.entryCount} entries\trevision ${item.revision}${item.hasSchema ? '\tschema' : ''}`,
      );
  });

  clientCommand(ns.command('get <ns>').description('show a namespace')).action(
    async (name: string, flags: ClientFlags) => {
      const item = await adminClient(flags).get<NamespaceView>(nsPath(name));
      if (flags.json) printJson(item);
      else
        printLine(
          `${item.name}: ${item.entryCount} entries, revision ${item.revision}${item.hasSchema ? ', has a schema' : ''}${item.description ? ` — ${item.description}` : ''}`,
        );
    },
  );

  clientCommand(ns.command('delete <ns>').description('delete a namespace (one with entries needs --force)'))
    .option('--force', 'also delete its entries and history')
    .action(async (name: string, flags: ClientFlags & { force?: boolean }) => {
      try {
        await adminClient(flags).delete(nsPath(name), { query: { force: flags.force ? true : undefined } });
      } catch (error) {
        if (error instanceof HeraldApiError && error.code === 'namespace_not_empty')
          throw new CliError(
            `namespace ${name} still has entries: \`herald ns delete ${name} --force\` deletes it with its entries and history`,
            1,
            error.code,
          );
        throw error;
      }
      if (flags.json) printJson({ deleted: name });
      else printLine(`deleted namespace ${name}`);
    });

  const schema = program.command('schema').description('the JSON Schema of a namespace');
  clientCommand(schema.command('get <ns>').description('print the schema')).action(
    async (name: string, flags: ClientFlags) => {
      printJson((await adminClient(flags).get<{ schema: unknown }>(nsPath(name, 'schema'))).schema);
    },
  );
  clientCommand(schema.command('set <ns>').description('set the schema; refused if current entries violate it'))
    .requiredOption('-f, --file <file>', 'schema file (YAML or JSON)')
    .action(async (name: string, flags: ClientFlags & { file: string }) => {
      await adminClient(flags).put(nsPath(name, 'schema'), { schema: readSchemaFile(flags.file) });
      if (flags.json) printJson({ namespace: name, schema: 'set' });
      else printLine(`schema of ${name} set`);
    });
  clientCommand(schema.command('remove <ns>').description('remove the schema')).action(
    async (name: string, flags: ClientFlags) => {
      await adminClient(flags).put(nsPath(name, 'schema'), { schema: null });
      if (flags.json) printJson({ namespace: name, schema: null });
      else printLine(`schema of ${name} removed`);
    },
  );
}
