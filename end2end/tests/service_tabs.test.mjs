// The service page as tabs (issue 16, item 3): Overview, Deploy, Pods & logs, Energy,
// Dependencies and History are plain links, each its own URL, that keep the chosen environment
// and energy period, with and without JavaScript (client-side navigation once hydrated); the
// history table stays inside its card on a 1280-pixel screen; and the main actions are
// reachable and usable with the keyboard alone.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { deployAndWait, ingestEnergy, newPage, startCanopy, tabTo, uniqueName } from "./harness.mjs";

let canopy;
let team;
before(async () => {
  canopy = await startCanopy({ kube: true });
  team = uniqueName("tabs");
  // Long images and notes, to test that the history wraps inside its card.
  const spec = { team, name: "web", environment: "dev", port: 8080, replicas: 1 };
  await deployAndWait(canopy, { ...spec, image: "ghcr.io/acme-platform-engineering/storefront-web-frontend-service:1.0.0-build.20261130.1" });
  await deployAndWait(canopy, { ...spec, image: "ghcr.io/acme-platform-engineering/storefront-web-frontend-service:1.1.0-build.20261130.2" });
  await ingestEnergy(canopy, { team, service: "web" });
});
after(async () => {
  await canopy?.stop();
});

const TABS = [
  { name: "Overview", slug: "", marker: '[data-testid="current-revision"]' },
  { name: "Deploy", slug: "/deploy", marker: "#image" },
  { name: "Pods & logs", slug: "/pods", marker: '[data-testid="pods"]' },
  { name: "Energy", slug: "/energy", marker: '[data-testid="service-energy"] svg' },
  { name: "Dependencies", slug: "/dependencies", marker: '[data-testid="drift-source"]' },
  { name: "History", slug: "/history", marker: '[data-testid="history"]' },
];

for (const javaScriptEnabled of [false, true]) {
  test(`the tabs are links that keep the environment and period ${javaScriptEnabled ? "with" : "without"} JavaScript`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled });
    const base = `/services/${team}/web`;
    await page.goto(`${canopy.base}${base}?env=dev&period=7d`);
    if (javaScriptEnabled) {
      await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
      // Set on this document: still there after a tab link means no full page load.
      await page.evaluate(() => { window.stayedOnThePage = true; });
    }
    const nav = page.getByRole("navigation", { name: "Service sections" });
    const links = nav.getByRole("link");
    assert.deepEqual(await links.allTextContents(), TABS.map((t) => t.name));
    // Every tab's link carries the environment and the period.
    for (const tab of TABS) {
      assert.equal(
        await nav.getByRole("link", { name: tab.name, exact: true }).getAttribute("href"),
        `${base}${tab.slug}?env=dev&period=7d`,
      );
    }
    for (const tab of [...TABS.slice(1), TABS[0]]) {
      await nav.getByRole("link", { name: tab.name, exact: true }).click();
      await page.waitForURL(`${canopy.base}${base}${tab.slug}?env=dev&period=7d`);
      await page.locator(tab.marker).first().waitFor({ timeout: 30_000 });
      assert.equal(await nav.locator('a[aria-current="page"]').textContent(), tab.name);
      assert.equal(await nav.locator('a[aria-current="page"]').count(), 1);
      if (javaScriptEnabled) {
        assert.equal(await page.evaluate(() => window.stayedOnThePage), true, `${tab.name}: client-side navigation`);
      }
    }
    // The environment links stay on the tab and keep the period.
    await nav.getByRole("link", { name: "Pods & logs", exact: true }).click();
    await page.waitForURL(`**${base}/pods?env=dev&period=7d`);
    const environments = page.getByRole("navigation", { name: "Environment" });
    assert.equal(await environments.getByRole("link", { name: "staging" }).getAttribute("href"), `${base}/pods?env=staging&period=7d`);
    await environments.getByRole("link", { name: "staging" }).click();
    await page.waitForURL(`**${base}/pods?env=staging&period=7d`);
    await page.locator(".empty-state", { hasText: "No deploys yet in this environment" }).waitFor();
    assert.equal(await nav.getByRole("link", { name: "History" }).getAttribute("href"), `${base}/history?env=staging&period=7d`);
    // The energy tab's period links keep the environment too.
    await nav.getByRole("link", { name: "Energy", exact: true }).click();
    await page.waitForURL(`**${base}/energy?env=staging&period=7d`);
    await page.getByTestId("service-energy").getByRole("link", { name: "24h" }).click();
    await page.waitForURL(`**${base}/energy?env=staging&period=24h`);
    assert.equal(await nav.getByRole("link", { name: "Overview" }).getAttribute("href"), `${base}?env=staging&period=24h`);
    if (javaScriptEnabled) assert.deepEqual(problems, []);
    await context.close();
  });
}

test("each tab loads only its own data: the overview has no pods, energy or history table", async () => {
  const { context, page } = await newPage(canopy.browser, { javaScriptEnabled: false });
  await page.goto(`${canopy.base}/services/${team}/web?env=dev`);
  const current = await page.getByTestId("current-revision").textContent();
  assert.match(current, /Revision\s*2/);
  assert.match(current, /storefront-web-frontend-service:1\.1\.0/);
  assert.match(await page.getByTestId("live-badge").textContent(), /Running/);
  for (const absent of ["history", "pods", "service-energy", "drift-source", "preview"]) {
    assert.equal(await page.getByTestId(absent).count(), 0, `${absent} is not on the overview`);
  }
  assert.equal(await page.locator("#image").count(), 0, "no deploy form on the overview");
  await context.close();
});

for (const javaScriptEnabled of [false, true]) {
  test(`the history table stays inside its card at 1280×800 ${javaScriptEnabled ? "with" : "without"} JavaScript`, async () => {
    const { context, page } = await newPage(canopy.browser, { javaScriptEnabled, viewport: { width: 1280, height: 800 } });
    await page.goto(`${canopy.base}/services/${team}/web/history?env=dev`);
    if (javaScriptEnabled) await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
    const card = page.getByTestId("history-card");
    const table = card.getByTestId("history");
    assert.equal(await table.locator("tbody tr").count(), 2);
    const cardBox = await card.boundingBox();
    const tableBox = await table.boundingBox();
    assert.ok(tableBox.x >= cardBox.x, `table starts at ${tableBox.x}, card at ${cardBox.x}`);
    assert.ok(
      tableBox.x + tableBox.width <= cardBox.x + cardBox.width,
      `table's right edge ${tableBox.x + tableBox.width} is past the card's ${cardBox.x + cardBox.width}`,
    );
    // No cell spills out of the table either (long images wrap).
    const overflowing = await table.evaluate((t) =>
      [...t.querySelectorAll("td, th")].filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => c.textContent),
    );
    assert.deepEqual(overflowing, []);
    await context.close();
  });
}

test("the service page's main actions work with the keyboard alone", async () => {
  const { context, page, problems } = await newPage(canopy.browser);
  await page.goto(`${canopy.base}/services/${team}/web?env=dev`);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });

  // Tab to the Deploy tab's link and follow it with Enter.
  await tabTo(page, 'nav[aria-label="Service sections"] a[href^="/services/' + team + '/web/deploy"]');
  await page.keyboard.press("Enter");
  await page.waitForURL(`**/services/${team}/web/deploy?env=dev`);
  await page.locator("#image").waitFor();

  // Fill the form by keyboard, preview with Enter on the button, deploy with Enter.
  await tabTo(page, "#image");
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type("ghcr.io/acme/web:2.0.0");
  await tabTo(page, "#port");
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type("8080");
  await tabTo(page, 'form[aria-label="Deploy"] button[type="submit"]');
  await page.keyboard.press("Enter");
  await page.getByTestId("preview").waitFor();
  assert.match(await page.getByTestId("preview").textContent(), /containers\[0\]\.image/);
  await tabTo(page, '[data-testid="confirm-deploy"]');
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    () => {
      const live = document.querySelector('[data-testid="live-status"]');
      return live?.querySelector(".live-head .muted")?.textContent === "revision 3"
        && live.querySelector('[data-testid="live-badge"]')?.textContent === "Running";
    },
    null,
    { timeout: 60_000 },
  );

  // Restart, scale and delete are reachable from the keyboard too.
  await tabTo(page, 'section[aria-label="Operations"] button[type="submit"]');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Restart all pods");
  await tabTo(page, 'input[aria-label="Replicas"]');
  await tabTo(page, "#confirm-delete");

  // The History tab, then roll back to revision 1 with the keyboard.
  await tabTo(page, 'nav[aria-label="Service sections"] a[href^="/services/' + team + '/web/history"]');
  await page.keyboard.press("Enter");
  await page.waitForURL(`**/services/${team}/web/history?env=dev`);
  await page.locator('[data-testid="history"] tr[data-revision="3"]').waitFor();
  await tabTo(page, '[data-testid="history"] tr[data-revision="1"] button');
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    () => document.querySelector('[data-testid="history"] tr[data-revision="4"] .status')?.textContent === "Running",
    null,
    { timeout: 60_000 },
  );
  assert.match(await page.locator('[data-testid="history"] tr[data-revision="4"]').textContent(), /Rollback to revision 1/);

  // The focus is visible wherever it is (an outline drawn by the stylesheet).
  await tabTo(page, 'nav[aria-label="Service sections"] a');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, "none");
  assert.deepEqual(problems, []);
  await context.close();
});
