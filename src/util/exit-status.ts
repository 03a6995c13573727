/**
 * A remote command's exit code as this process's exit status, for both CLIs: 0-255 as
 * it is; anything else (e.g. -1 for a command killed by a signal) is 255; none is 0.
 */
export function exitStatus(code: number | undefined): number {
  if (code === undefined) return 0;
  return Number.isInteger(code) && code >= 0 && code <= 255 ? code : 255;
}
