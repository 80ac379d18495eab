// Canopy as two replicas behind one address: a deploy sent to replica A (the REST API, as a CI
// job would) is watched live on a page served by replica B, without a reload.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { newPage, startCanopy, startReplica, uniqueName } from "./harness.mjs";

let canopy;
let replica;
before(async () => {
  canopy = await startCanopy({ kube: true });
  replica = await startReplica(canopy);
});
after(async () => {
  await replica?.stop();
  await canopy?.stop();
});

test("a rollout started on one replica is followed live on a page served by another", async () => {
  const { context, page, problems } = await newPage(canopy.browser);
  const team = uniqueName("e2e-rep");
  // The page comes from replica B (signed in through A: the session is shared).
  await page.goto(`${replica.base}/services/${team}/web?env=dev`);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  assert.match(await page.getByTestId("live-status").textContent(), /Not deployed yet/);

  // The deploy goes to replica A.
  const response = await fetch(`${canopy.base}/api/v1/deploys`, {
    method: "POST",
    headers: { authorization: `Bearer ${canopy.apiToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      spec: { team, name: "web", environment: "dev", image: "ghcr.io/acme/web:1.0.0", port: 8080, replicas: 2 },
    }),
  });
  assert.equal(response.status, 202, await response.text());

  // B's page follows the rollout by itself (server push from A's follower through PostgreSQL).
  await page.waitForFunction(
    () => document.querySelector('[data-testid="live-badge"]')?.textContent === "Running",
    null,
    { timeout: 60_000 },
  );
  assert.match(await page.getByTestId("live-message").textContent(), /2 of 2 pods ready/);
  assert.deepEqual(problems, []);
  await context.close();
});
