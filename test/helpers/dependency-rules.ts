// A small import walk over src/ that checks the layering rules of README.md ("Layout").
// Rules are written per folder, so they hold while files move inside and between folders.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One folder's rule: the folders of ours (src/<name>) it may, or may not, import. */
export interface FolderRule {
  folder: string;
  /** Only these folders (its own is always allowed). */
  mayImportOnly?: readonly string[];
  /** Never these folders. */
  mustNotImport?: readonly string[];
  why: string;
}

/** An import left out of the checks for now, with the issue item that removes it. */
export interface KnownImport {
  from: string;
  to: string;
  removedBy: string;
}

/** A file allowed to name the process's stdio, with the reason. */
export interface StdioException {
  file: string;
  why: string;
}

export interface Rules {
  folders: readonly FolderRule[];
  /** The library: every file under these folders and everything they import. */
  libraryRoots: readonly string[];
  knownImports: readonly KnownImport[];
  stdioExceptions: readonly StdioException[];
}

export interface SourceFile {
  /** Relative to the root, with forward slashes: `src/channel/data-channel.ts`. */
  file: string;
  /** Files of ours it imports (static, re-exports, dynamic, type-only alike). */
  imports: string[];
  /** `console.*`, `process.stdout`, `process.stderr`, `process.exit` uses, as `line: text`. */
  stdio: string[];
}

/** Reads every .ts file under `root`/src. */
export function readSources(root: string): SourceFile[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const child = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith('.ts')) files.push(child);
    }
  };
  walk('src');
  return files.sort().map((file) => {
    const text = readFileSync(path.join(root, file), 'utf8');
    const imports = ts
      .preProcessFile(text, true, true)
      .importedFiles.map((ref) => ref.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => path.posix.normalize(path.posix.join(path.posix.dirname(file), name)));
    return { file, imports: [...new Set(imports)], stdio: stdioUses(file, text) };
  });
}

function stdioUses(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const object = node.expression.text;
      const member = node.name.text;
      if (object === 'console' || (object === 'process' && ['stdout', 'stderr', 'exit'].includes(member))) {
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        found.push(`${line}: ${object}.${member}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const folderOf = (file: string): string => file.split('/')[1] ?? '';

/** Every broken rule, one line each; empty when all hold. */
export function checkRules(sources: readonly SourceFile[], rules: Rules): string[] {
  const known = new Set(rules.knownImports.map((k) => `${k.from} -> ${k.to}`));
  const edges = sources.flatMap((s) => s.imports.filter((to) => !known.has(`${s.file} -> ${to}`)).map((to) => ({ from: s.file, to })));
  const problems: string[] = [];
  for (const { from, to } of edges) {
    const source = folderOf(from);
    const target = folderOf(to);
    if (!to.startsWith('src/') || source === target) continue;
    for (const rule of rules.folders.filter((r) => r.folder === source)) {
      const allowed = rule.mayImportOnly === undefined || rule.mayImportOnly.includes(target);
      if (!allowed || rule.mustNotImport?.includes(target)) {
        problems.push(`${from} imports ${to}: src/${source} ${rule.why}`);
      }
    }
  }
  problems.push(...libraryStdio(sources, edges, rules));
  problems.push(...cycles(sources, edges).map((cycle) => `import cycle among ${cycle.join(', ')}`));
  return problems;
}

function libraryStdio(sources: readonly SourceFile[], edges: ReadonlyArray<{ from: string; to: string }>, rules: Rules): string[] {
  const library = new Set(sources.filter((s) => rules.libraryRoots.includes(folderOf(s.file))).map((s) => s.file));
  for (let grew = true; grew; ) {
    grew = false;
    for (const { from, to } of edges) {
      if (library.has(from) && !library.has(to) && sources.some((s) => s.file === to)) {
        library.add(to);
        grew = true;
      }
    }
  }
  const excepted = new Set(rules.stdioExceptions.map((e) => e.file));
  return sources
    .filter((s) => library.has(s.file) && !excepted.has(s.file))
    .flatMap((s) => s.stdio.map((use) => `${s.file}:${use}: the library (src/${rules.libraryRoots.join(', src/')} and what it imports) never prints nor exits`));
}

/** Import cycles among the files (Tarjan's strongly connected components), each as a path. */
function cycles(sources: readonly SourceFile[], edges: ReadonlyArray<{ from: string; to: string }>): string[][] {
  const next = new Map<string, string[]>(sources.map((s) => [s.file, []]));
  for (const { from, to } of edges) if (next.has(to)) next.get(from)?.push(to);
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter++);
    stack.push(file);
    onStack.add(file);
    for (const to of next.get(file) ?? []) {
      if (!index.has(to)) {
        connect(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(file, Math.min(low.get(file)!, index.get(to)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || next.get(file)!.includes(file)) found.push(component.reverse());
  };
  for (const file of next.keys()) if (!index.has(file)) connect(file);
  return found;
}
