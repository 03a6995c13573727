import path from 'node:path';
import { CopyError, download, upload, type Copy, type CopyOptions } from '../../client/index.ts';
import { RateMeter } from '../../client/rate-meter.ts';
import type { Command } from '../args.ts';
import { awsOptions, chosenTarget, resolvedTargetFor } from '../session-runner.ts';
import { formatBytes, formatCopy, formatRate } from '../status-format.ts';
import { StatusLine, statusMode } from '../status-line.ts';

type CopyCommand = Extract<Command, { kind: 'cp' }>;

const STOP_SIGNALS: ReadonlyArray<[NodeJS.Signals, number]> = [
  ['SIGINT', 2],
  ['SIGTERM', 15],
  ['SIGHUP', 1],
];

/**
 * `ssm-session cp SOURCE DESTINATION`: one file to or from a target, its ranges over up
 * to --pool sessions, checked end to end (sizes and SHA-256). Progress on stderr when it
 * is a terminal (or with --stats); nothing on stdout. Ctrl-C (or SIGTERM, SIGHUP) ends
 * every session, keeps the partial file for a resume and exits 128 + the signal.
 */
export async function cp(command: CopyCommand): Promise<number> {
  const { global } = command;
  const aws = awsOptions(global);
  // Messages name the target as it was typed (`Name=web:/x`), or as picked.
  const { target, label } =
    command.target === undefined ? await chosenTarget(global, 'cp') : { target: (await resolvedTargetFor(command.target, global)).target, label: command.target };
  const controller = new AbortController();
  let stoppedBy: number | undefined;
  const onSignal = (name: NodeJS.Signals): void => {
    stoppedBy ??= STOP_SIGNALS.find(([signal]) => signal === name)?.[1];
    controller.abort();
  };
  for (const [name] of STOP_SIGNALS) process.on(name, onSignal);

  const options: CopyOptions = {
    target,
    aws,
    remotePath: command.remotePath,
    localPath: command.localPath,
    pool: command.pool,
    resume: command.resume,
    signal: controller.signal,
    ...(command.rangeSize === undefined ? {} : { rangeSize: command.rangeSize }),
  };
  const copy = command.direction === 'download' ? download(options, label) : upload(options, label);
  const name = path.basename(command.direction === 'download' ? command.remotePath : command.localPath);
  const mode = statusMode(process.stderr, global);
  const rates = new RateMeter();
  const status = new StatusLine(process.stderr, mode, () => {
    const { progress } = copy;
    rates.sample(0, progress.bytesDone);
    return formatCopy({ name, ...progress, rate: rates.rates(0, progress.bytesDone).down }, mode === 'periodic');
  });
  if (!global.quiet) watch(copy, status);
  status.start();
  try {
    const result = await copy.done;
    status.stop();
    if (!global.quiet && mode !== 'off') {
      const seconds = result.elapsedMs / 1000;
      const resumed = result.bytesResumed > 0 ? `, ${formatBytes(result.bytesResumed)} were already there` : '';
      process.stderr.write(
        `${result.path}: ${formatBytes(result.bytes)} in ${seconds.toFixed(1)} s (${formatRate((result.bytes - result.bytesResumed) / Math.max(seconds, 0.001))})` +
          `${resumed}, SHA-256 ${result.sha256} checked on both ends, ${result.sessionsStarted} sessions\n`,
      );
    }
    return 0;
  } catch (err) {
    status.stop();
    if (err instanceof CopyError && err.code === 'interrupted' && stoppedBy !== undefined) {
      process.stderr.write(`ssm-session: ${err.message}\n`);
      return 128 + stoppedBy;
    }
    throw err;
  } finally {
    for (const [signal] of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

/** Retries and resumes are worth a line above the status line. */
function watch(copy: Copy, status: StatusLine): void {
  copy.on('resumed', (bytes: number) => status.message(`resuming: ${formatBytes(bytes)} of the partial file already match`));
  copy.on('retry', (range: { offset: number; length: number }, error: Error) =>
    status.message(`trying bytes ${range.offset}-${range.offset + range.length - 1} again: ${error.message}`),
  );
}
