import { runTool, type ToolDefinition } from '@hoard/cli';

export const validateTool: ToolDefinition = {
  name: 'validate',
  summary: 'Check records on stdin against the schema (hoard schema TYPE); pass every good line on unchanged, report bad ones.',
  examples: ['hoard scan . | hoard validate | jq -c "select(.type==\\"scan\\")"', 'hoard validate < saved.jsonl > /dev/null && echo valid'],
  async run(ctx) {
    for await (const lines of ctx.input()) {
      for (const line of lines) {
        if (line.record) ctx.emit(line.text);
        else ctx.badInput(line);
      }
      ctx.flush();
      if (ctx.interrupted) return;
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(validateTool, argv);
}
