/** The two programs one binary holds. */
export type ProgramName = 'session-manager-plugin' | 'ssm-session';

/**
 * The program a file name asks for: `ssm-session` for names starting so (`ssm-session`,
 * `ssm-session.exe`, `SSM-Session.EXE`), the plugin for `session-manager-plugin...`,
 * undefined for any other name. Both path separators are understood on every platform, so
 * a Windows path is read the same way wherever this runs.
 */
export function programNamed(file: string): ProgramName | undefined {
  const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1).toLowerCase();
  const name = base.endsWith('.exe') ? base.slice(0, -4) : base;
  if (name.startsWith('ssm-session')) return 'ssm-session';
  if (name.startsWith('session-manager-plugin')) return 'session-manager-plugin';
  return undefined;
}

/**
 * Which program the single binary runs, from the name it was started as: first argv[0]
 * (the name typed or found on PATH, which a symbolic link keeps), then the executable's own
 * path (a hard link or a copy renamed, even when started with another argv[0]). Any other
 * name is the plugin: it is what the AWS CLI runs, whatever the file is called.
 */
export function programForInvocation(argv0: string, execPath: string): ProgramName {
  return programNamed(argv0) ?? programNamed(execPath) ?? 'session-manager-plugin';
}
