/**
 * Screenshots of every console screen at 1280 and 390 pixels wide, on the console demo's data
 * (tests/helpers/console-demo.ts), in Debian's Chromium: docs/console/<screen>-<width>.png. It also
 * measures the budgets docs/console.md reports: the first screen's JavaScript, gzipped, and how long
 * each screen takes to be usable (its heading shown, nothing left loading), and writes them there.
 *
 *   npx tsx scripts/screenshots.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureConsoleBuilt, launchBrowser } from '../tests/helpers/browser.js';
import { openScreen, penguinTraffic, startConsoleDemo } from '../tests/helpers/console-demo.js';
import { ROOT } from '../tests/helpers/server.js';

const WIDTHS = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
] as const;
const OUT = join(ROOT, 'docs/console');
const DOC = join(ROOT, 'docs/console.md');
const BEGIN = '<!-- screens:begin -->';
const END = '<!-- screens:end -->';

ensureConsoleBuilt();
const demo = await startConsoleDemo();
const { browser, close } = await launchBrowser();
const timings = new Map<string, number[]>();
let firstScreenJs = 0;
// Traffic to prod while the screens are taken, so the live figures have something to show.
let flowing = true;
const traffic = (async () => {
  while (flowing) {
    await penguinTraffic(demo.server, 'prod', 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
})();
try {
  for (const size of WIDTHS) {
    const context = await browser.newContext({ viewport: size, deviceScaleFactor: 1 });
    const page = await context.newPage();
    // Warm the browser's cache once, as a user's second visit would be; each screen then loads in a
    // fresh document.
    await page.goto(`${demo.server.url}/`);
    for (const screen of demo.screens) {
      const scripts: Promise<number>[] = [];
      const listener = (response: import('playwright-core').Response) => {
        if (response.request().resourceType() === 'script') {
          scripts.push(response.body().then((body) => gzipSync(body).length));
        }
      };
      if (screen.name === 'environments' && size.width === 1280) {
        await context.clearCookies();
        page.on('response', listener);
      }
      const ms = await openScreen(page, demo.server.url, screen);
      // Live figures are rates between two reads of /metrics, a couple of seconds apart.
      if (screen.name === 'environments' || screen.name === 'promotion' || screen.name === 'traffic') {
        await page.waitForTimeout(4500);
      }
      page.off('response', listener);
      if (scripts.length > 0) firstScreenJs = (await Promise.all(scripts)).reduce((a, b) => a + b, 0);
      timings.set(screen.name, [...(timings.get(screen.name) ?? []), ms]);
      await page.screenshot({ path: join(OUT, `${screen.name}-${size.width}.png`) });
      console.log(`${screen.name} at ${size.width}: usable in ${ms} ms`);
    }
    await context.close();
  }
} finally {
  flowing = false;
  await traffic;
  await close();
  await demo.server.stop();
}

const rows = demo.screens.map((s) => {
  const [wide, narrow] = timings.get(s.name) ?? [];
  return `| ${s.name} | \`${s.hash}\` | ${wide} ms | ${narrow} ms | ![${s.name} at 1280](console/${s.name}-1280.png) | ![${s.name} at 390](console/${s.name}-390.png) |`;
});
const slowest = Math.max(...[...timings.values()].flat());
const section = [
  BEGIN,
  '',
  `Measured by \`npx tsx scripts/screenshots.ts\` on ${new Date().toISOString().slice(0, 10)} (Chromium ${browser.version()}, this`,
  `machine: ${(await import('node:os')).cpus().length} cores): the first screen loads **${(firstScreenJs / 1024).toFixed(1)} KB of JavaScript gzipped** (budget 200 KB),`,
  `and the slowest screen was usable in **${slowest} ms** (budget 1 s), from navigation to its heading shown with nothing left loading.`,
  '',
  '| screen | address | usable at 1280 px | usable at 390 px | 1280 px wide | 390 px wide |',
  '|---|---|---|---|---|---|',
  ...rows,
  '',
  END,
].join('\n');
const doc = readFileSync(DOC, 'utf8');
const start = doc.indexOf(BEGIN);
const end = doc.indexOf(END);
if (start < 0 || end < 0) throw new Error(`${DOC} has no ${BEGIN} … ${END} section`);
writeFileSync(DOC, `${doc.slice(0, start)}${section}${doc.slice(end + END.length)}`);
console.log(
  `first screen JavaScript: ${(firstScreenJs / 1024).toFixed(1)} KB gzipped; slowest screen ${slowest} ms`,
);
