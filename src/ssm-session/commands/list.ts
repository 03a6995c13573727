import { listInstances } from '../../client/instances.ts';
import type { Command } from '../args.ts';
import { byNameOnlineFirst, formatRows, instanceCells, INSTANCE_COLUMNS } from '../instance-table.ts';
import { awsOptions } from '../session-runner.ts';

/**
 * `ssm-session list [--filter ...] [--json]`: the managed instances (SSM
 * DescribeInstanceInformation) with their Name tags, Online first. A table (cut to the
 * terminal's width when stdout is one), or with --json an array of objects for scripts.
 * Tags that cannot be read (no permission) leave NAME empty and say why on stderr.
 */
export async function list(command: Extract<Command, { kind: 'list' }>): Promise<number> {
  const { global } = command;
  const { instances, tagsError } = await listInstances({ aws: awsOptions(global), filters: command.filters });
  instances.sort(byNameOnlineFirst);
  if (tagsError !== undefined && !global.quiet) process.stderr.write(`ssm-session: instance tags (and so names) are not shown: ${tagsError}\n`);
  if (command.json) {
    process.stdout.write(`${JSON.stringify(instances, null, 2)}\n`);
    return 0;
  }
  if (instances.length === 0) {
    if (!global.quiet) process.stderr.write('no managed instances match\n');
    return 0;
  }
  const rows = formatRows([[...INSTANCE_COLUMNS], ...instances.map(instanceCells)], process.stdout.isTTY === true);
  process.stdout.write(`${rows.join('\n')}\n`);
  return 0;
}
