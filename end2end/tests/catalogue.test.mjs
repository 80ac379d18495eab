// The services catalogue (/services) in a real browser, with JavaScript and without: search by
// part of a name, filter by team and state, sort by a column, pages, and the last deploy as a
// relative time with the exact time on hover and focus.
//
// Services are registered through the server function (bearer token); their deploys are rows
// written with psql (this run has no cluster), and the catalogue refreshes every second.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { newPage, startCanopy, uniqueName } from "./harness.mjs";

let canopy;
const team = uniqueName("cat");
const other = uniqueName("cato");
// 55 services: two pages of the team's services.
const names = Array.from({ length: 55 }, (_, i) => `svc-${String(i).padStart(2, "0")}`);

function sql(statement) {
  execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", process.env.CANOPY_E2E_DATABASE_URL, "-c", statement]);
}

async function register(teamName, name) {
  const response = await fetch(`${canopy.base}/api/fn/register_service`, {
    method: "POST",
    headers: { authorization: `Bearer ${canopy.apiToken}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ team: teamName, name }).toString(),
  });
  if (response.status !== 200) throw new Error(`register ${teamName}/${name}: ${response.status} ${await response.text()}`);
}

before(async () => {
  canopy = await startCanopy({ env: { CANOPY_CATALOGUE_REFRESH_SECS: "1" } });
  for (const name of names) await register(team, name);
  await register(other, "lonely-web");
  // svc-00 failed in prod 3 minutes ago; svc-01 running in dev and prod; svc-02 rolling out.
  const id = (name) => `(SELECT s.id FROM services s JOIN teams t ON t.id = s.team_id WHERE t.name = '${team}' AND s.name = '${name}')`;
  const row = (name, env, status, minutes) =>
    `(${id(name)}, '${env}', 1, '{}'::jsonb, 'ghcr.io/acme/x:1', 'e2e', '${status}', now() - interval '${minutes} minutes')`;
  sql(
    `INSERT INTO deploys (service_id, environment, revision, spec, image, requested_by, status, started_at) VALUES ${[
      row("svc-00", "prod", "failed", 3),
      row("svc-01", "dev", "succeeded", 90),
      row("svc-01", "prod", "succeeded", 80),
      row("svc-02", "staging", "rolling_out", 1),
    ].join(", ")}`,
  );
  // The next refresh (every second here) shows them.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const html = await (
      await fetch(`${canopy.base}/services?team=${team}&state=failed`, { headers: { authorization: `Bearer ${canopy.apiToken}` } })
    ).text();
    if (html.includes('data-testid="catalogue-row"')) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("the catalogue never showed the deploys");
});
after(async () => {
  await canopy?.stop();
});

const rows = (page) => page.locator('[data-testid="catalogue-row"]');
const firstColumn = (page) => page.locator('[data-testid="catalogue-row"] td:first-child').allTextContents();

async function status(page) {
  return (await page.getByTestId("page-status").textContent()).trim();
}

/// Opens the catalogue; with JavaScript, waits until the page has hydrated (links and the form
/// are then handled by the app).
async function open(page, js, query = "") {
  await page.goto(`${canopy.base}/services${query}`);
  if (js) await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  await page.getByTestId("catalogue").waitFor();
}

/// Waits until the page status reads `expected` (a client-side navigation updates in place).
async function statusBecomes(page, expected) {
  await page.getByTestId("page-status").filter({ hasText: expected }).waitFor({ timeout: 15_000 });
}

for (const js of [true, false]) {
  const mode = js ? "with JavaScript" : "without JavaScript";

  test(`search by part of a name finds it (${mode})`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled: js });
    await open(page, js);
    await page.fill("#catalogue-q", "LONELY");
    await Promise.all([page.waitForURL(/[?&]q=LONELY/), page.click('[data-testid="catalogue-filters"] button[type="submit"]')]);
    await statusBecomes(page, "Showing 1–1 of 1 matching services");
    assert.deepEqual(await firstColumn(page), ["lonely-web"]);
    assert.equal(await page.locator('[data-testid="catalogue-row"] td:nth-child(2) a').getAttribute("href"), `/teams/${other}`);
    assert.equal(await page.inputValue("#catalogue-q"), "lonely", "the search stays in the form");
    if (js) assert.deepEqual(problems, []);
    await context.close();
  });

  test(`filter by team and state (${mode})`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled: js });
    await open(page, js);
    await page.selectOption("#catalogue-team", team);
    await page.selectOption("#catalogue-state", "failed");
    await Promise.all([page.waitForURL(/state=failed/), page.click('[data-testid="catalogue-filters"] button[type="submit"]')]);
    await statusBecomes(page, "of 1 matching services");
    assert.deepEqual(await firstColumn(page), ["svc-00"]);
    const badges = await rows(page).first().locator(".badge").allTextContents();
    assert.deepEqual(badges, ["not deployed", "not deployed", "failed"]);

    // Running in prod: svc-01 only.
    await page.goto(`${canopy.base}/services?team=${team}&state=running&env=prod`);
    assert.deepEqual(await firstColumn(page), ["svc-01"]);
    assert.equal(await page.inputValue("#catalogue-env"), "prod");
    if (js) assert.deepEqual(problems, []);
    await context.close();
  });

  test(`sorting by a column changes the order and says so (${mode})`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled: js });
    await open(page, js, `?team=${team}`);
    assert.deepEqual((await firstColumn(page)).slice(0, 2), ["svc-00", "svc-01"]);
    const header = page.locator('th:has(a[data-sort="service"])');
    assert.equal(await header.getAttribute("aria-sort"), "ascending");
    await Promise.all([page.waitForURL(/sort=service&dir=desc/), header.locator("a").click()]);
    await page.locator('th[aria-sort="descending"] a[data-sort="service"]').waitFor();
    await page.locator('[data-testid="catalogue-row"] td:first-child', { hasText: "svc-54" }).first().waitFor();
    assert.deepEqual((await firstColumn(page)).slice(0, 2), ["svc-54", "svc-53"]);

    // By last deploy: the newest first.
    await Promise.all([page.waitForURL(/sort=last_deploy/), page.locator('a[data-sort="last_deploy"]').click()]);
    await page.locator('th[aria-sort="descending"] a[data-sort="last_deploy"]').waitFor();
    await page.locator('[data-testid="catalogue-row"] td:first-child', { hasText: "svc-02" }).first().waitFor();
    assert.deepEqual((await firstColumn(page)).slice(0, 3), ["svc-02", "svc-00", "svc-01"]);
    if (js) assert.deepEqual(problems, []);
    await context.close();
  });

  test(`pages: next and previous (${mode})`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled: js });
    await open(page, js, `?team=${team}`);
    assert.equal(await status(page), "Showing 1–50 of 55 matching services · Page 1 of 2");
    assert.equal(await rows(page).count(), 50);
    const pager = page.getByTestId("pagination");
    await Promise.all([page.waitForURL(/page=2/), pager.getByRole("link", { name: "Next →" }).click()]);
    await statusBecomes(page, "Page 2 of 2");
    assert.equal(await rows(page).count(), 5);
    assert.deepEqual(await firstColumn(page), ["svc-50", "svc-51", "svc-52", "svc-53", "svc-54"]);
    assert.equal(await pager.getByRole("link", { name: "Next →" }).count(), 0, "no next page after the last");
    await Promise.all([page.waitForURL((url) => !url.search.includes("page=")), pager.getByRole("link", { name: "← Previous" }).click()]);
    await statusBecomes(page, "Page 1 of 2");
    assert.equal((await firstColumn(page))[0], "svc-00");
    if (js) assert.deepEqual(problems, []);
    await context.close();
  });

  test(`the last deploy reads as a relative time with the exact time on hover and focus (${mode})`, async () => {
    const { context, page } = await newPage(canopy.browser, { javaScriptEnabled: js });
    await open(page, js, `?team=${team}&state=failed`);
    const time = rows(page).first().locator("time");
    assert.match(await time.textContent(), /^3 min( \d+ s)? ago$/);
    assert.match(await time.getAttribute("title"), /^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC$/);
    assert.match(await time.getAttribute("datetime"), /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(await time.getAttribute("tabindex"), "0");
    await time.focus();
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), "TIME", "reachable by keyboard");
    // Never deployed: says so.
    await page.goto(`${canopy.base}/services?q=lonely`);
    assert.equal((await rows(page).first().locator("td").last().textContent()).trim(), "never");
    await context.close();
  });
}

test("a bad parameter is refused naming it", async () => {
  const { context, page } = await newPage(canopy.browser, { javaScriptEnabled: false });
  const response = await page.goto(`${canopy.base}/services?state=sleeping`);
  assert.equal(response.status(), 422);
  assert.match(await page.textContent("body"), /State \(state\): “sleeping” is not a state; use one of running, rolling_out, failed, not_deployed/);
  await context.close();
});
