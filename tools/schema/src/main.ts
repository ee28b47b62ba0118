import { runTool, type ToolDefinition } from '@hoard/cli';
import { UsageError, jsonSchema, recordTypes } from '@hoard/schema';

export const schemaTool: ToolDefinition = {
  name: 'schema',
  summary: `Print the JSON Schema of a record type (${recordTypes.join(', ')}), or of all of them with --all.`,
  args: '[type]',
  options: [{ flags: '--all', description: 'print every record type, one schema per line' }],
  examples: ['hoard schema file | jq .properties.path', 'hoard schema --all | jq -r .title'],
  async run(ctx) {
    const [type] = ctx.args;
    if (ctx.options.all) {
      for (const t of recordTypes) ctx.emit(JSON.stringify(jsonSchema(t)));
      return;
    }
    if (!type) throw new UsageError(`name a record type: ${recordTypes.join(', ')}`);
    const schema = jsonSchema(type);
    if (!schema) throw new UsageError(`unknown record type "${type}"; known: ${recordTypes.join(', ')}`);
    process.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(schemaTool, argv);
}
