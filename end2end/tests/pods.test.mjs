// The service page's pods, events and log viewer against the real control plane (simulated
// pods, whose logs the simulator serves through the real pod log API): after a deploy the pod
// is listed Running, the events list shows the scheduler's and the kubelet's events, the log
// viewer shows the container's lines, and "Follow live" adds a new line without a reload.
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

test("pods, events and a followed log on the service page", async () => {
  const { context, page, problems } = await newPage(canopy.browser);
  const team = uniqueName("e2e-pods");
  await page.goto(`${canopy.base}/services/${team}/web/deploy?env=dev`);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });

  await page.fill("#image", "ghcr.io/acme/web:1.0.0");
  await page.fill("#port", "8080");
  await page.fill("#replicas", "1");
  await page.click('button:has-text("Preview changes")');
  await page.getByTestId("confirm-deploy").click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="live-badge"]')?.textContent === "Running",
    null,
    { timeout: 60_000 },
  );

  // The Pods & logs tab (a link: client-side navigation) lists the running pod.
  await page.getByRole("navigation", { name: "Service sections" }).getByRole("link", { name: "Pods & logs" }).click();
  await page.waitForURL(`${canopy.base}/services/${team}/web/pods?env=dev`);
  const pods = page.getByTestId("pods");
  await page.waitForFunction(
    () => document.querySelector('[data-testid="pods"] .pod-status')?.textContent === "Running",
    null,
    { timeout: 30_000 },
  );
  const row = pods.locator("tbody tr").first();
  const podName = await row.getAttribute("data-pod");
  assert.match(podName, /^web-[a-z0-9]+-[a-z0-9]+$/);
  assert.match(await row.textContent(), /1\/1/);

  const events = page.getByTestId("events");
  assert.match(await events.textContent(), /Scheduled/);
  assert.match(await events.textContent(), /Successfully assigned/);
  assert.match(await events.textContent(), /ScalingReplicaSet/);

  const log = page.getByTestId("log-lines");
  assert.match(await log.textContent(), /starting web \(image ghcr\.io\/acme\/web:1\.0\.0\)/);
  assert.match(await page.getByTestId("logs").textContent(), new RegExp(`Logs: ${podName} / web`));
  const download = await page.getByTestId("download").getAttribute("href");
  assert.equal(download, `/ui/logs/${team}/web/dev/${podName}/download?container=web`);

  // Follow live: a line written after the click shows up without a reload (the simulator
  // writes a health-check line every 10 s).
  const clickedAt = new Date();
  await page.getByTestId("follow").click();
  await page.waitForFunction(
    (since) => {
      const text = document.querySelector('[data-testid="log-lines"]')?.textContent ?? "";
      return text
        .split("\n")
        .some((line) => line.includes("GET /healthz 200 OK") && Date.parse(line.split(" ")[0]) > since);
    },
    clickedAt.getTime(),
    { timeout: 30_000 },
  );
  assert.equal(await page.getByTestId("follow").textContent(), "Stop following");
  await page.getByTestId("follow").click();

  // Refreshing re-reads the pods and the log in place.
  await page.getByTestId("refresh-pods").click();
  await page.getByTestId("log-lines").filter({ hasText: "starting web" }).waitFor();
  assert.equal(await pods.locator("tbody tr").first().getAttribute("data-pod"), podName);

  // The download is the whole log as a text attachment.
  const response = await page.request.get(`${canopy.base}${download}`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-disposition"], new RegExp(`attachment; filename="${podName}-web.log"`));
  assert.match(await response.text(), /listening on 0\.0\.0\.0:8080/);

  assert.deepEqual(problems, []);
  await context.close();
});

test("without JavaScript the pods, events and log are on the page", async () => {
  // The previous test's service is gone with its browser context, so deploy one through the API.
  const team = uniqueName("e2e-nojs");
  const deployed = await fetch(`${canopy.base}/api/v1/deploys`, {
    method: "POST",
    headers: { authorization: `Bearer ${canopy.apiToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      spec: { team, name: "api", environment: "dev", image: "ghcr.io/acme/api:2.0.0", port: 8080, replicas: 1 },
    }),
  });
  assert.equal(deployed.status, 202);
  const { context, page } = await newPage(canopy.browser, { javaScriptEnabled: false });
  const deadline = Date.now() + 60_000;
  let html = "";
  while (Date.now() < deadline) {
    await page.goto(`${canopy.base}/services/${team}/api/pods?env=dev`);
    html = await page.content();
    if (html.includes('class="pod-status ok"') && html.includes("ready to serve requests")) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.match(await page.getByTestId("pods").textContent(), /Running/);
  assert.match(await page.getByTestId("events").textContent(), /Scheduled/);
  assert.match(await page.getByTestId("log-lines").textContent(), /ready to serve requests/);
  // "Previous container" is a plain link; without a restart it says so plainly.
  await page.getByTestId("previous-toggle").click();
  assert.match(await page.getByTestId("logs").textContent(), /it has not restarted/);
  await context.close();
});
