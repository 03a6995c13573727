import type { Command } from '../args.ts';
export async function run(command: Extract<Command, { kind: 'run' }>): Promise<number> { void command; return 1; }
