import type { AwsOptions } from '../client/aws-options.ts';
import { listInstances, type InstanceSummary } from '../client/instances.ts';
import { TargetError } from '../client/target-error.ts';
import { PickerCancelled } from './errors.ts';
import { byNameOnlineFirst } from './instance-table.ts';
import { PickerState } from './picker-state.ts';

/** Instances shown at once, at most. */
const MAX_ROWS = 12;
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const CLEAR_TO_END = '\x1b[J';
const inverse = (line: string): string => `\x1b[7m${line}\x1b[27m`;

/**
 * Lists the managed instances and lets the user pick one in the terminal (stdin for keys,
 * stderr for the list, so stdout stays the session's). Throws PickerCancelled on Esc or
 * Ctrl-C, and TargetError when there is nothing to pick from.
 */
export async function pickInstance(aws: AwsOptions): Promise<InstanceSummary> {
  const { instances } = await listInstances({ aws });
  if (instances.length === 0) throw new TargetError('not-found', 'no managed instances to pick a target from (SSM DescribeInstanceInformation lists none)');
  return choose(instances.sort(byNameOnlineFirst), process.stdin, process.stderr);
}

/** Runs the picker on a terminal until a choice or a cancel. */
export function choose(instances: readonly InstanceSummary[], input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<InstanceSummary> {
  const state = new PickerState(instances);
  let drawn = 0;
  const draw = (): void => {
    const rows = Math.min(MAX_ROWS, Math.max(1, (output.rows || 24) - 4));
    const lines = state.render(output.columns || 80, rows, inverse);
    // Back to the first line of the previous drawing, clear it, draw anew.
    const up = drawn > 1 ? `\x1b[${drawn - 1}A` : '';
    output.write(`\r${up}${CLEAR_TO_END}${lines.join('\r\n')}`);
    drawn = lines.length;
  };
  const wasRaw = input.isRaw;
  return new Promise<InstanceSummary>((resolve, reject) => {
    const finish = (): void => {
      input.off('data', onData);
      output.off('resize', draw);
      input.setRawMode?.(wasRaw);
      input.pause();
      const up = drawn > 1 ? `\x1b[${drawn - 1}A` : '';
      output.write(`\r${up}${CLEAR_TO_END}${SHOW_CURSOR}`);
    };
    const onData = (chunk: Buffer): void => {
      const result = state.input(chunk.toString('utf8'));
      if (!result) return draw();
      finish();
      if (result.kind === 'choose') resolve(result.instance);
      else reject(new PickerCancelled('no target chosen'));
    };
    input.setRawMode?.(true);
    input.on('data', onData);
    input.resume();
    output.on('resize', draw);
    output.write(HIDE_CURSOR);
    draw();
  });
}
