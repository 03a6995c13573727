import type { Command } from '../args.ts';
export async function sshProxy(command: Extract<Command, { kind: 'ssh-proxy' }>): Promise<number> { void command; return 1; }
