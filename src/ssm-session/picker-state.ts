import type { InstanceSummary } from '../client/instances.ts';
import { formatRows, instanceCells } from './instance-table.ts';

/** What a key did: nothing final yet, a choice, or a cancel. */
export type PickerResult = { kind: 'choose'; instance: InstanceSummary } | { kind: 'cancel' } | undefined;

const KEYS: ReadonlyArray<[string, 'up' | 'down' | 'enter' | 'cancel' | 'erase' | 'clear']> = [
  ['\x1b[A', 'up'],
  ['\x1bOA', 'up'],
  ['\x10', 'up'], // Ctrl-P
  ['\x1b[B', 'down'],
  ['\x1bOB', 'down'],
  ['\x0e', 'down'], // Ctrl-N
  ['\r', 'enter'],
  ['\n', 'enter'],
  ['\x03', 'cancel'], // Ctrl-C
  ['\x04', 'cancel'], // Ctrl-D
  ['\x7f', 'erase'],
  ['\b', 'erase'],
  ['\x15', 'clear'], // Ctrl-U
];

/**
 * The target picker without its terminal: the instances, the text typed so far (every
 * word of it must appear in a row, any case), the highlighted row, and the lines to show.
 */
export class PickerState {
  private readonly instances: readonly InstanceSummary[];
  private query = '';
  private selected = 0;

  constructor(instances: readonly InstanceSummary[]) {
    this.instances = instances;
  }

  get filter(): string {
    return this.query;
  }

  /** The instances the text typed matches, in their order. */
  get matches(): InstanceSummary[] {
    const words = this.query.toLowerCase().split(/\s+/).filter((w) => w !== '');
    return this.instances.filter((instance) => {
      const text = [...instanceCells(instance), instance.computerName ?? ''].join(' ').toLowerCase();
      return words.every((word) => text.includes(word));
    });
  }

  /** Applies the keys of one read from the terminal (several may come at once). */
  input(data: string): PickerResult {
    let rest = data;
    while (rest.length > 0) {
      const key = KEYS.find(([sequence]) => rest.startsWith(sequence));
      if (key) {
        rest = rest.slice(key[0].length);
        const result = this.apply(key[1]);
        if (result) return result;
        continue;
      }
      if (rest.startsWith('\x1b')) {
        // A lone Escape cancels; another escape sequence (arrows left/right, F-keys) is skipped.
        const sequence = /^\x1b(?:\[[0-9;]*[A-Za-z~]|O[A-Za-z])/.exec(rest);
        if (!sequence) return { kind: 'cancel' };
        rest = rest.slice(sequence[0].length);
        continue;
      }
      const char = String.fromCodePoint(rest.codePointAt(0) as number);
      rest = rest.slice(char.length);
      if (char >= ' ') {
        this.query += char;
        this.selected = 0;
      }
    }
    return undefined;
  }

  /**
   * The picker's lines for a terminal `columns` wide, showing at most `rows` instances
   * (scrolled to keep the highlighted one in view); `highlight` wraps the chosen row.
   */
  render(columns: number, rows: number, highlight: (line: string) => string): string[] {
    const matches = this.matches;
    this.selected = Math.min(this.selected, Math.max(0, matches.length - 1));
    const visible = Math.max(1, rows);
    const first = Math.min(Math.max(0, this.selected - visible + 1), Math.max(0, matches.length - visible));
    const shown = matches.slice(first, first + visible);
    const width = Math.max(10, columns - 1);
    const fit = (line: string): string => (line.length > width ? `${line.slice(0, width - 1)}…` : line);
    const table = formatRows(shown.map(instanceCells), true);
    const lines = [
      fit('Pick a target: type to filter, ↑/↓ to move, Enter to choose, Esc to cancel'),
      fit(`> ${this.query}`),
      ...table.map((row, i) => (first + i === this.selected ? highlight(fit(`▸ ${row}`)) : fit(`  ${row}`))),
    ];
    lines.push(fit(matches.length === 0 ? '  (no instance matches)' : `  ${matches.length} of ${this.instances.length}`));
    return lines;
  }

  private apply(key: 'up' | 'down' | 'enter' | 'cancel' | 'erase' | 'clear'): PickerResult {
    const count = this.matches.length;
    switch (key) {
      case 'up':
        this.selected = Math.max(0, this.selected - 1);
        return undefined;
      case 'down':
        this.selected = Math.min(Math.max(0, count - 1), this.selected + 1);
        return undefined;
      case 'enter': {
        const instance = this.matches[this.selected];
        return instance ? { kind: 'choose', instance } : undefined;
      }
      case 'cancel':
        return { kind: 'cancel' };
      case 'erase':
        this.query = [...this.query].slice(0, -1).join('');
        this.selected = 0;
        return undefined;
      case 'clear':
        this.query = '';
        this.selected = 0;
        return undefined;
    }
  }
}
