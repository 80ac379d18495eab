// Deploying from the service page against the real control plane (simulated pods):
// preview, deploy, watch the live status reach "Running" without a reload, history, rollback.
// The page is tabs that are links: the deploy form, restart, scale and delete are on the Deploy
// tab (with the live status), the history and rollback on the History tab.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { newPage, startCanopy, uniqueName } from "./harness.mjs";

let canopy;
before(async () => {
  canopy = await startCanopy({ kube: true });
});
after(async () => {
  await canopy?.stop();
});

async function openDeployTab(page, team, service) {
  await page.goto(`${canopy.base}/services/${team}/${service}/deploy?env=dev`);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
}

/// Follows a tab link (client-side navigation once hydrated) and waits for it to be current.
async function openTab(page, name, slug) {
  await page.getByRole("navigation", { name: "Service sections" }).getByRole("link", { name, exact: true }).click();
  await page.waitForURL(new RegExp(`/${slug}\\?env=dev$`));
  await page.locator('nav[aria-label="Service sections"] a[aria-current="page"]', { hasText: name }).waitFor();
}

/// Waits until the live status shows `revision` running.
async function waitForRevisionRunning(page, revision, timeout = 60_000) {
  await page.waitForFunction(
    (revision) => {
      const live = document.querySelector('[data-testid="live-status"]');
      return live?.querySelector(".live-head .muted")?.textContent === `revision ${revision}`
        && live.querySelector('[data-testid="live-badge"]')?.textContent === "Running";
    },
    revision,
    { timeout },
  );
}

/// Waits until the history lists `revision` as running.
async function waitForHistoryRunning(page, revision) {
  await page.waitForFunction(
    (revision) => document.querySelector(`[data-testid="history"] tr[data-revision="${revision}"] .status`)?.textContent === "Running",
    revision,
    { timeout: 60_000 },
  );
}

async function previewAndDeploy(page, image) {
  await page.fill("#image", image);
  await page.click('button:has-text("Preview changes")');
  const preview = page.getByTestId("preview");
  await preview.waitFor();
  const text = await preview.textContent();
  await page.getByTestId("confirm-deploy").click();
  return text;
}

async function waitForBadge(page, label, timeout = 60_000) {
  const badge = page.getByTestId("live-badge");
  await page.waitForFunction(
    (expected) => document.querySelector('[data-testid="live-badge"]')?.textContent === expected,
    label,
    { timeout },
  );
  return badge;
}

test("deploy, watch it run, update, and roll back", async () => {
  const { context, page, problems } = await newPage(canopy.browser);
  const team = uniqueName("e2e");
  await openDeployTab(page, team, "web");
  assert.match(await page.getByTestId("live-status").textContent(), /Not deployed yet/);

  await page.fill("#port", "8080");
  await page.fill("#replicas", "2");
  const firstPreview = await previewAndDeploy(page, "ghcr.io/acme/web:1.0.0");
  assert.match(firstPreview, /Deployment web will be created/);
  assert.match(firstPreview, /Namespace .*-dev will be created/);

  // The live status on the Deploy tab updates by itself (server push) until the pods are ready.
  await waitForBadge(page, "Running");
  assert.match(await page.getByTestId("live-message").textContent(), /2 of 2 pods ready/);
  await openTab(page, "History", "history");
  const history = page.getByTestId("history");
  await waitForHistoryRunning(page, 1);

  // An update shows exactly what changes, then rolls out revision 2.
  await openTab(page, "Deploy", "deploy");
  const secondPreview = await previewAndDeploy(page, "ghcr.io/acme/web:1.1.0");
  assert.match(secondPreview, /spec\.template\.spec\.containers\[0\]\.image/);
  await waitForRevisionRunning(page, 2);
  await openTab(page, "History", "history");
  await waitForHistoryRunning(page, 2);

  // Roll back to revision 1 from the History tab: a new revision 3 with the old image.
  await page.click('button:has-text("Roll back to 1")');
  await waitForHistoryRunning(page, 3);
  const row3 = await history.locator('tr[data-revision="3"]').textContent();
  assert.match(row3, /ghcr\.io\/acme\/web:1\.0\.0/);
  assert.match(row3, /Rollback to revision 1/);

  // Restart and scale (Deploy tab) are recorded as new revisions of the same spec.
  await openTab(page, "Deploy", "deploy");
  await page.click('button:has-text("Restart all pods")');
  await waitForRevisionRunning(page, 4);
  await openTab(page, "History", "history");
  await waitForHistoryRunning(page, 4);
  assert.match(await history.locator('tr[data-revision="4"]').textContent(), /Restart/);
  await openTab(page, "Deploy", "deploy");
  await page.fill('input[name="replicas"][aria-label="Replicas"]', "1");
  await page.click('button:has-text("Scale")');
  await waitForRevisionRunning(page, 5);
  assert.match(await page.getByTestId("live-message").textContent(), /1 of 1 pods ready/);
  await openTab(page, "History", "history");
  await waitForHistoryRunning(page, 5);
  await openTab(page, "Deploy", "deploy");

  // Deleting asks for the service's name; then every object Canopy made is removed.
  const beforeRefusal = problems.length;
  await page.fill("#confirm-delete", "not-web");
  await page.click('button:has-text("Delete")');
  await page.getByText("type the service's name (web) to confirm the deletion").waitFor();
  // The refused request answers 422 (bad input), which the browser logs: expected here.
  const refusal = problems.splice(beforeRefusal);
  assert.ok(
    refusal.every((p) => p.includes("/api/fn/delete_service") || /status of 422/.test(p)),
    `unexpected problems: ${refusal.join("\n")}`,
  );
  await page.fill("#confirm-delete", "web");
  await page.click('button:has-text("Delete")');
  const deleted = page.getByRole("status").filter({ hasText: "Deleted" });
  await deleted.waitFor({ timeout: 30_000 });
  assert.match(await deleted.textContent(), /Deployment\/web/);
  assert.deepEqual(problems, []);
  await context.close();
});

test("an image that does not exist is explained in plain language", async () => {
  const { context, page } = await newPage(canopy.browser);
  const team = uniqueName("e2e");
  await openDeployTab(page, team, "api");
  await page.fill("#port", "8080");
  await previewAndDeploy(page, "ghcr.io/acme/api:doesnotexist");
  const problem = page.locator('[data-testid="live-status"] .problem');
  await problem.waitFor({ timeout: 60_000 });
  assert.match(await problem.textContent(), /image/i);
  await context.close();
});
