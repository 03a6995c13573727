import type { Command } from '../args.ts';
export async function shell(command: Extract<Command, { kind: 'shell' }>): Promise<number> { void command; return 1; }
