// The energy pages in a real browser: an agent batch is ingested through the real API, then the
// service's chart renders as server-side SVG without JavaScript, and again with it (hydrated),
// with every figure marked by its source; the team page shows the team's services side by side;
// the custom period form works without JavaScript; hovering a bar shows its values once hydrated.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { newPage, startCanopy, uniqueName } from "./harness.mjs";

let canopy;
let team;
let batchDay;
before(async () => {
  canopy = await startCanopy();
  team = uniqueName("energy");
  const admin = { authorization: `Bearer ${canopy.apiToken}`, "content-type": "application/json" };
  const created = await fetch(`${canopy.base}/api/v1/energy/node-tokens`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({ node: "node-a" }),
  });
  const createdBody = await created.text();
  assert.equal(created.status, 201, createdBody);
  const { token } = JSON.parse(createdBody);

  // One 60 s interval a few minutes ago: 3,600 J on the host, 1,800 J for the web service's
  // pod, 600 J for the api service's.
  const end = new Date(Date.now() - 5 * 60_000);
  const start = new Date(end.getTime() - 60_000);
  batchDay = start.toISOString().slice(0, 10);
  const batch = {
    schema_version: 1,
    node: "node-a",
    batch_id: randomUUID(),
    created_at: new Date().toISOString(),
    samples: [
      {
        start: start.toISOString(),
        end: end.toISOString(),
        source: "measured",
        host_energy_joules: 3600,
        idle_energy_joules: 1200,
        system_energy_joules: 0,
        zones: [{ zone: "package-0", energy_joules: 3600 }],
        pods: [
          {
            pod_uid: randomUUID(),
            namespace: `${team}-dev`,
            pod: "web-1",
            container: "web",
            labels: { "canopy.dev/team": team, "canopy.dev/service": "web" },
            energy_joules: 1800,
          },
          {
            pod_uid: randomUUID(),
            namespace: `${team}-dev`,
            pod: "api-1",
            container: "api",
            labels: { "canopy.dev/team": team, "canopy.dev/service": "api" },
            energy_joules: 600,
          },
        ],
      },
    ],
  };
  const ingested = await fetch(`${canopy.base}/api/v1/ingest`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(batch),
  });
  const ingestBody = await ingested.text();
  assert.ok(ingested.status >= 200 && ingested.status < 300, ingestBody);
});
after(async () => {
  await canopy?.stop();
});

for (const javaScriptEnabled of [false, true]) {
  test(`the service energy chart renders ${javaScriptEnabled ? "with" : "without"} JavaScript`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled });
    await page.goto(`${canopy.base}/services/${team}/web/energy?env=dev`);
    if (javaScriptEnabled) {
      await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
    }
    const section = page.getByTestId("service-energy");
    await section.locator("svg").first().waitFor({ timeout: 15_000 });
    const text = await section.textContent();
    assert.match(text, /measured/);
    // 1,800 J = 0.5 Wh for this service: three significant figures in mWh (app/src/format.rs).
    assert.match(text, /500 mWh · /);
    if (javaScriptEnabled) assert.deepEqual(problems, []);
    await context.close();
  });
}

for (const javaScriptEnabled of [false, true]) {
  test(`the team page shows its services side by side ${javaScriptEnabled ? "with" : "without"} JavaScript`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled });
    // The Energy page's "By team" table links to the team page.
    await page.goto(`${canopy.base}/energy`);
    await page.getByRole("link", { name: team, exact: true }).click();
    await page.waitForURL(`**/teams/${team}?period=24h`);
    if (javaScriptEnabled) {
      await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
    }
    const table = page.getByTestId("team-services");
    await table.waitFor({ timeout: 15_000 });
    const web = table.locator('tr[data-service="web"]');
    const api = table.locator('tr[data-service="api"]');
    // 1,800 J and 600 J: 75 % and 25 % of the team, both measured, each with a sparkline.
    assert.match(await web.textContent(), /75\.0 %/);
    assert.match(await api.textContent(), /25\.0 %/);
    for (const row of [web, api]) {
      assert.match(await row.textContent(), /measured/);
      assert.equal(await row.locator("svg.sparkline").count(), 1);
    }
    // Web first (largest), then api: side by side in one table.
    const order = await table.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.service));
    assert.deepEqual(order, ["web", "api"]);
    // The team has no quota of its own: the card says so and shows Canopy's default.
    const quota = page.getByTestId("team-quota");
    await quota.waitFor({ timeout: 15_000 });
    const quotaText = await quota.textContent();
    assert.match(quotaText, /Canopy's default/);
    assert.match(quotaText, /Requested\s*8\s*16Gi/);
    assert.match(quotaText, /and 100 pods/);
    if (javaScriptEnabled) assert.deepEqual(problems, []);
    await context.close();
  });
}

test("the custom period form works without JavaScript and names a bad field", async () => {
  const { context, page } = await newPage(canopy.browser, { javaScriptEnabled: false });
  await page.goto(`${canopy.base}/energy`);
  const form = page.getByTestId("period-form");
  await form.locator('input[name="from"]').fill(batchDay);
  await form.locator('input[name="to"]').fill(batchDay);
  await form.getByRole("button", { name: "Show" }).click();
  await page.waitForURL(`**/energy?from=${batchDay}&to=${batchDay}`);
  const body = await page.locator("main").textContent();
  assert.match(body, new RegExp(`${batchDay} to ${batchDay} \\(1 day, UTC\\)`));
  const totals = await page.getByTestId("energy-totals").textContent();
  // A figure as app/src/format.rs writes it: three significant figures, energy · CO2e.
  assert.match(totals, /(\d{3}|\d{2}\.\d|\d\.\d{2}) (mWh|Wh|kWh|MWh|GWh) · (\d{3}|\d{2}\.\d|\d\.\d{2}) (mg|g|kg|t) CO2e/);
  assert.match(totals, /measured/);

  // The last day before the first: the form says which field is wrong.
  await form.locator('input[name="from"]').fill(batchDay);
  await form.locator('input[name="to"]').fill("2020-01-01");
  await form.getByRole("button", { name: "Show" }).click();
  await page.waitForURL("**/energy?from=*");
  const error = await page.getByTestId("period-error").textContent();
  assert.match(error, new RegExp(`^From: ${batchDay} is after the last day 2020-01-01`));
  assert.equal(await form.locator('input[name="from"]').getAttribute("aria-invalid"), "true");
  await context.close();
});

test("a day typed before the page is hydrated is kept when hydration runs", async () => {
  const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled: true });
  // Hold the page's wasm until the day is typed: a slow connection, made certain.
  let release;
  const typed = new Promise((resolve) => {
    release = resolve;
  });
  await page.route("**/*.wasm", async (route) => {
    await typed;
    await route.continue();
  });
  await page.goto(`${canopy.base}/energy`, { waitUntil: "commit" });
  const from = page.getByTestId("period-form").locator('input[name="from"]');
  await from.fill(batchDay);
  assert.equal(await page.locator("main").getAttribute("data-hydrated"), "false");
  release();
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  assert.equal(await from.inputValue(), batchDay, "hydration kept what was typed");
  assert.deepEqual(problems, []);
  await context.close();
});

test("hovering a bar of the service chart shows its values once hydrated", async () => {
  const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled: true });
  await page.goto(`${canopy.base}/services/${team}/web/energy?env=dev`);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  const section = page.getByTestId("service-energy");
  const readout = section.getByTestId("chart-readout");
  assert.match(await readout.textContent(), /Hover over or focus a bar/);
  // The bar with energy has a measured (green) segment.
  const bar = section.locator("g.energy-bar", { has: page.locator('rect[fill="#2e7d32"]') });
  await bar.hover();
  await page.waitForFunction(
    () => /measured: /.test(document.querySelector('[data-testid="chart-readout"]')?.textContent ?? ""),
    null,
    { timeout: 5_000 },
  );
  assert.match(await readout.textContent(), /measured: 500 mWh · /);
  // By keyboard: the bar with the focus shows its values (here a step without energy).
  await section.locator("g.energy-bar", { hasNot: page.locator('rect[fill="#2e7d32"]') }).first().focus();
  await page.waitForFunction(
    () => /no energy reported/.test(document.querySelector('[data-testid="chart-readout"]')?.textContent ?? ""),
    null,
    { timeout: 5_000 },
  );
  assert.match(await readout.textContent(), /^\d{4}-\d{2}-\d{2}T[\d:]+Z: no energy reported$/);
  assert.deepEqual(problems, []);
  await context.close();
});

for (const javaScriptEnabled of [false, true]) {
  test(`the service chart's period switch keeps the environment ${javaScriptEnabled ? "with" : "without"} JavaScript`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled });
    // The form is a plain GET form: each submit loads a new document. With JavaScript, the test
    // acts on it once it is hydrated, as it would on the first page.
    const hydrated = async () => {
      if (javaScriptEnabled) {
        await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
      }
    };
    await page.goto(`${canopy.base}/services/${team}/web/energy?env=dev`);
    await hydrated();
    const section = page.getByTestId("service-energy");
    // A preset: the last 24 hours still hold the batch of a few minutes ago.
    await section.getByRole("link", { name: "24h" }).click();
    await page.waitForURL(`**/services/${team}/web/energy?env=dev&period=24h`);
    assert.equal(await section.getByRole("link", { name: "24h" }).getAttribute("aria-current"), "page");
    await section.locator("svg").first().waitFor({ timeout: 15_000 });
    assert.match(await section.textContent(), /measured/);

    // Custom days: the batch's day, then a range that ends before it starts, which names the
    // field; the environment is kept throughout.
    const form = section.getByTestId("period-form");
    await form.locator('input[name="from"]').fill(batchDay);
    await form.locator('input[name="to"]').fill(batchDay);
    await form.getByRole("button", { name: "Show" }).click();
    await page.waitForURL(`**/services/${team}/web/energy?env=dev&from=${batchDay}&to=${batchDay}`);
    await hydrated();
    await section.locator("svg").first().waitFor({ timeout: 15_000 });
    assert.match(await section.textContent(), /measured/);
    if (javaScriptEnabled) assert.deepEqual(problems, []);
    await form.locator('input[name="to"]').fill("2020-01-01");
    await form.getByRole("button", { name: "Show" }).click();
    await page.waitForURL(`**/services/${team}/web/energy?env=dev&from=${batchDay}&to=2020-01-01`);
    const error = await section.getByTestId("period-error").textContent();
    assert.match(error, new RegExp(`^From: ${batchDay} is after the last day 2020-01-01`));
    // With JavaScript the refused server call answers with an error status, which the browser
    // logs: expected here, and nothing else.
    assert.ok(
      problems.every((p) => p.includes("/api/fn/load_service_energy_for") || /status of 5\d\d/.test(p)),
      `unexpected problems: ${problems.join("\n")}`,
    );
    await context.close();
  });
}
