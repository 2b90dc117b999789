import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ROOT } from './server.js';

/** Debian's Chromium (scripts/chromium.sh installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/** The flags testing.md asks for: headless, and nothing that reaches for the network on its own. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const CONSOLE = join(ROOT, 'dist/console');
const WEB = join(ROOT, 'web');

function newest(folder: string): number {
  let latest = 0;
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/**
 * Builds the console (web/ into dist/console) when it is missing or older than its sources, as
 * `make build` does; a server reads the build when it starts. Test files that run at once share one
 * build: the first takes a lock folder, the others wait for it.
 */
export function ensureConsoleBuilt(): void {
  const built = () => {
    try {
      return statSync(join(CONSOLE, 'index.html')).mtimeMs >= newest(WEB);
    } catch {
      return false;
    }
  };
  if (built()) return;
  const lock = join(ROOT, 'dist/.console-build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`the console build lock ${lock} was never released`);
      execFileSync('sleep', ['0.2']);
    }
  }
  try {
    if (!built()) {
      execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(WEB, 'vite.config.ts')],
        {
          cwd: ROOT,
          stdio: 'pipe',
          // vitest sets NODE_ENV=test, with which Vite would bundle Preact's development build.
          env: { ...process.env, NODE_ENV: 'production' },
        },
      );
    }
  } finally {
    rmdirSync(lock);
  }
}

/** A browser of its own; Playwright gives it a fresh profile folder and removes it on close. */
export async function launchBrowser(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  return { browser, close: () => browser.close() };
}

/** Every console error and uncaught exception a page reports, with the page's URL at the time. */
export function collectConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
  return errors;
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** One accessibility violation axe-core found: its rule, impact and where. */
export interface Violation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: string[];
}

/**
 * Runs axe-core in the page and answers its serious and critical violations. The script is evaluated
 * through the DevTools protocol, so the page's Content-Security-Policy (no inline script) still holds for
 * the page's own code.
 */
export async function seriousViolations(page: Page): Promise<Violation[]> {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: browser globals, untyped in a Node program.
    const { axe, document } = globalThis as any;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return (
      result.violations as {
        id: string;
        impact: string | null;
        help: string;
        nodes: { target: string[] }[];
      }[]
    )
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(' ')),
      }));
  });
}
