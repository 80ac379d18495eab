// Dependency drift in a real browser: point a service at the drift crate's `shop` fixture
// checkout, scan it, see its dependency rows on the service's tab and its place in the org-wide
// ranking. The registries are a small local HTTP server serving the drift crate's recorded
// answers (nothing reaches the network); Canopy finds it through CANOPY_DRIFT_REGISTRY_URL.
// Status: written but not yet seen passing: on the shared build machine the `canopy` binary in
// the shared target dir did not serve this branch's pages when it ran (see the merge notes).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { newPage, startCanopy, uniqueName } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, "../../drift/tests/fixtures");
const shop = path.join(fixtures, "repos/shop");

let canopy;
let registry;
before(async () => {
  const root = path.join(fixtures, "registry");
  registry = http.createServer((req, res) => {
    const url = new URL(req.url, "http://registry");
    const file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(fs.readFileSync(file));
  });
  await new Promise((resolve) => registry.listen(0, "127.0.0.1", resolve));
  process.env.CANOPY_DRIFT_REGISTRY_URL = `http://127.0.0.1:${registry.address().port}`;
  process.env.CANOPY_DRIFT_SCAN_INTERVAL_HOURS = "0";
  process.env.CANOPY_DRIFT_RETRIES = "0";
  canopy = await startCanopy();
});
after(async () => {
  await canopy?.stop();
  registry?.close();
});

test("a service pointed at a checkout is scanned; its tab lists the drift and the dashboard ranks it", async () => {
  const { context, page, problems } = await newPage(canopy.browser);
  const team = "drift";
  const name = uniqueName("shop");
  // Register the service through the register page.
  await page.goto(`${canopy.base}/services/new`);
  // The status message is the hydrated form's: a click before hydration posts the form
  // without JavaScript and the page reloads without it.
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  await page.fill("#team", team);
  await page.fill("#name", name);
  await page.click('form.register-form button[type="submit"]');
  await page.getByRole("status").filter({ hasText: `Registered ${name}` }).waitFor({ timeout: 30_000 });

  // The service's dependencies tab.
  await page.goto(`${canopy.base}/services/${team}/${name}/dependencies`);
  await page.locator('[data-testid="scan-state"]', { hasText: "Never scanned" }).waitFor();

  // Point it at the checkout, then scan.
  await page.fill("#source-path", shop);
  await page.click('[data-testid="drift-source"] button[type="submit"]');
  await page.locator('[data-testid="source-path"]', { hasText: shop }).waitFor({ timeout: 15_000 });
  await page.click('[data-testid="scan-now"]');
  await page.locator('[data-testid="scan-state"] .badge', { hasText: "done" }).waitFor({ timeout: 30_000 });
  await page.locator('[data-testid="dependency-row"]').first().waitFor();

  const serde = page.locator('[data-testid="dependency-row"]', { hasText: "serde" }).first();
  const serdeText = await serde.textContent();
  assert.match(serdeText, /1\.0\.190/);
  assert.match(serdeText, /1\.0\.210/);
  assert.match(serdeText, /patch/);
  assert.match(serdeText, /Cargo\.toml:\d+/);
  const figures = await page.locator('[data-testid="drift-figures"]').textContent();
  assert.match(figures, /libyears behind \(sum\)/);
  assert.match(figures, /major updates/);

  // Filter by update type: only majors remain.
  await page.click('nav[aria-label="Filter by update type"] a:has-text("Major")');
  await page.locator('nav[aria-label="Filter by update type"] a[aria-current="page"]', { hasText: "Major" }).waitFor();
  const updates = await page.locator('[data-testid="dependency-row"]').evaluateAll((rows) =>
    rows.map((row) => row.getAttribute("data-update")),
  );
  assert.ok(updates.length > 0, "there are major updates in the fixture");
  assert.deepEqual([...new Set(updates)], ["major"]);

  // The org-wide dashboard ranks it, with the trend, and links back to the tab.
  await page.goto(`${canopy.base}/dependencies`);
  const row = page.locator('[data-testid="ranking-row"]', { hasText: name });
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp(team));
  await page.locator('[data-testid="drift-trend"] svg').waitFor();
  assert.match(await page.locator('[data-testid="org-figures"]').textContent(), /libyears behind/);
  // Filtering by a team without scans empties the ranking.
  await page.goto(`${canopy.base}/dependencies?ecosystem=npm&team=${team}`);
  await row.waitFor();
  await page.goto(`${canopy.base}/dependencies?team=nobody-here`);
  await page.locator('[data-testid="drift-empty"]').waitFor();
  await page.goto(`${canopy.base}/dependencies`);
  assert.equal(await row.locator("a").getAttribute("href"), `/services/${team}/${name}/dependencies`);
  assert.deepEqual(problems, [], `console errors: ${problems.join("\n")}`);
  await context.close();
});
