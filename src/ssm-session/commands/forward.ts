import type { Command } from '../args.ts';
export async function forward(command: Extract<Command, { kind: 'forward' }>): Promise<number> { void command; return 1; }
