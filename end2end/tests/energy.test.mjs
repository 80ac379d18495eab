// The energy pages in a real browser: an agent batch is ingested through the real API, then the
// service's chart renders as server-side SVG without JavaScript, and again with it (hydrated),
// with every figure marked by its source.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { newPage, startCanopy, uniqueName } from "./harness.mjs";

let canopy;
let team;
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

  // One 60 s interval a few minutes ago: 3,600 J on the host, 1,800 J for the service's pod.
  const end = new Date(Date.now() - 5 * 60_000);
  const start = new Date(end.getTime() - 60_000);
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
        system_energy_joules: 600,
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
    await page.goto(`${canopy.base}/services/${team}/web?env=dev`);
    if (javaScriptEnabled) {
      await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
    }
    const section = page.getByTestId("service-energy");
    await section.locator("svg").first().waitFor({ timeout: 15_000 });
    const text = await section.textContent();
    assert.match(text, /measured/);
    // 1,800 J = 0.0005 kWh for this service.
    assert.match(text, /0\.0005\d* kWh|0\.001 kWh|0\.5 Wh/);
    if (javaScriptEnabled) assert.deepEqual(problems, []);
    await context.close();
  });
}
