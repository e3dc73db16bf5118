/**
 * Reads the shell blocks of a Markdown document and turns them into one bash script, for
 * test/e2e/docs-commands.test.ts: every command in the README and docs runs as written.
 */

export interface ShellBlock {
  /** `README.md:115`: the document and the line of the opening fence. */
  where: string;
  /** Logical commands: lines joined where they end in `\` or a quote is still open. */
  commands: string[];
  /** The reason from a `<!-- not-run: reason -->` line just above the fence; set: the block is not run. */
  notRun?: string;
}

/** A command that cannot run in a test, and why. Every entry must still match a command in the docs. */
export interface SkippedCommand {
  command: RegExp;
  reason: string;
}

export const SKIPPED: SkippedCommand[] = [
  {
    command: /^bash scripts\/test-all\.sh\b/,
    reason: 'runs every test suite, this one included, and starts and stops its own broker',
  },
  {
    command: /^bash scripts\/demo\.sh\b/,
    reason:
      "installs packages into and builds the checkout this test runs from; its job (`sluice run` on the example tickets) is the README's next runnable block",
  },
  {
    command: /^pnpm (infra|kafka):(up|down)\b/,
    reason: 'the test harness already started the broker and registry; `down` would stop the ones every test shares',
  },
  {
    command: /^eval "\$\(bash scripts\/infra\/(kafka|infra)\.sh up\)"/,
    reason:
      'the harness already started the infrastructure and exported its KAFKA_BROKERS and SCHEMA_REGISTRY_URL, on its own ports',
  },
  {
    command: /^(\w+=\S+ )*pnpm sluice serve\b/,
    reason:
      'a server runs until it is stopped: the test started one (Kafka, the simulator as upstream) on a free port, and SLUICE_BASE_URL points at it',
  },
  {
    command: /OPENAI_API_KEY=sk-\.\.\./,
    reason: 'needs a real OpenAI key',
  },
  {
    command: /^pnpm sluice simulate --port \d+/,
    reason: 'the simulator alone is a server that runs until stopped, on a fixed port; the test runs its own',
  },
  {
    command: /^pnpm sluice cancel "\$ID"/,
    reason:
      "the job is final by then (the `wait` above), and cancelling a final job exits 1 with the server's 409, as the comment says; packages/cli/src/commands/creates.test.ts covers it",
  },
  {
    command: /^pip install \S*clients\/python/,
    reason:
      "installs into the machine's Python; scripts/ci/python-sdk.sh installs the SDK into .cache/venv and runs its tests, docs examples included",
  },
];

const FENCE = /^```(sh|bash|console)\b/;
const NOT_RUN = /^<!--\s*not-run:\s*(.+?)\s*-->\s*$/;

/** The shell blocks of `markdown`, in order. */
export function extractShellBlocks(markdown: string, document: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith('```')) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    const fence = FENCE.exec(line);
    if (!fence) continue;
    const console = fence[1] === 'console';
    // A console block shows output too: only its `$ ` lines are typed.
    const typed = console ? body.filter((l) => l.startsWith('$ ')).map((l) => l.slice(2)) : body;
    const notRun = start > 0 ? NOT_RUN.exec(lines[start - 1]!)?.[1] : undefined;
    blocks.push({ where: `${document}:${start + 1}`, commands: logicalCommands(typed), notRun });
  }
  return blocks;
}

/** Joins continuation lines (a trailing `\`, or an open single or double quote) into one command. */
export function logicalCommands(lines: string[]): string[] {
  const commands: string[] = [];
  let current: string[] = [];
  for (const line of lines) {
    current.push(line);
    const joined = current.join('\n');
    if (line.endsWith('\\') || quoteOpen(joined)) continue;
    if (joined.trim() !== '') commands.push(joined);
    current = [];
  }
  if (current.length > 0) commands.push(current.join('\n'));
  return commands;
}

function quoteOpen(text: string): boolean {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === null && c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      // A comment runs to the end of its line.
      const end = text.indexOf('\n', i);
      if (end === -1) return false;
      i = end;
    } else if (quote === null && (c === "'" || c === '"')) quote = c;
    else if (c === quote) quote = null;
    else if (c === '\\' && quote !== "'") i++;
  }
  return quote !== null;
}

/**
 * One bash script for a document's blocks: stop at the first failing command, say which block is
 * running, replace each skipped command by a line naming why, and point `:8080` URLs at `baseUrl`.
 */
export function scriptOf(blocks: ShellBlock[], baseUrl: string): string {
  const hostPort = new URL(baseUrl).host;
  const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
  const parts = ['set -eo pipefail', "PS4='+ '"];
  for (const block of blocks) {
    if (block.notRun !== undefined) {
      parts.push(`echo ${quote(`### ${block.where}: not run (${block.notRun})`)}`);
      continue;
    }
    parts.push(`echo ${quote(`### ${block.where}`)} "($(date +%T))"`);
    for (const command of block.commands) {
      const skip = SKIPPED.find((s) => s.command.test(command.trimStart()));
      if (skip) {
        parts.push(`echo ${quote(`skipped: ${command.split('\n')[0]} (${skip.reason})`)}`);
        continue;
      }
      parts.push(`echo ${quote(`$ ${command}`)}`);
      parts.push(command.replace(/\b(localhost|127\.0\.0\.1):8080\b/g, hostPort));
    }
  }
  return parts.join('\n') + '\n';
}
