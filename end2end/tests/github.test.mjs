// A deploy button in a real browser, against the GitHub double and the control plane: a
// deployer opens the button's URL, sees the form prefilled from the repository's canopy.yaml,
// picks their team, previews, deploys and lands on the service page where the rollout runs;
// a viewer opening the same URL is told they may not deploy for any team.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { newPage, startCanopy, startGithubDouble, uniqueName } from "./harness.mjs";

const CANOPY_YAML = "# Deploy with Canopy\nname: shop\nimage: ghcr.io/acme/shop:2.3.0\nport: 8080\nreplicas: 1\nenv:\n  LOG_LEVEL: info\n";

let canopy;
let github;
before(async () => {
  github = await startGithubDouble({
    repos: [{ owner: "acme", name: "shop", private: true, default_branch: "main", installed: true }],
    files: [{ owner: "acme", repo: "shop", ref: "main", path: "canopy.yaml", content: CANOPY_YAML }],
  });
  canopy = await startCanopy({ kube: true, env: github.env });
});
after(async () => {
  await canopy?.stop();
  github?.stop();
});

const buttonUrl = () => `${canopy.base}/deploy?repo=acme/shop`;

test("a deployer opens a deploy button, sees the prefilled form, deploys and sees the rollout", async () => {
  const team = uniqueName("btn");
  const deployer = await canopy.createUser({ team, role: "deployer" });
  const { context, page, problems } = await newPage(canopy.browser, { user: deployer });
  await page.goto(buttonUrl());
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });

  assert.match(await page.getByTestId("source").textContent(), /From acme\/shop at main, file canopy\.yaml/);
  assert.equal(await page.inputValue("#name"), "shop");
  assert.equal(await page.inputValue("#image"), "ghcr.io/acme/shop:2.3.0");
  assert.equal(await page.inputValue("#port"), "8080");
  assert.equal(await page.inputValue("#env"), "LOG_LEVEL=info");
  assert.equal(await page.inputValue("#team"), team, "the only team they may deploy for");
  assert.equal(await page.inputValue("#environment"), "dev");

  await page.click('button:has-text("Preview changes")');
  const preview = page.getByTestId("preview");
  await preview.waitFor();
  assert.match(await preview.textContent(), /Deployment shop will be created/);
  await Promise.all([
    page.waitForURL(`${canopy.base}/services/${team}/shop?env=dev`, { timeout: 30_000 }),
    page.getByTestId("confirm-deploy").click(),
  ]);
  await page.waitForFunction(
    () => document.querySelector('[data-testid="live-badge"]')?.textContent === "Running",
    null,
    { timeout: 90_000 },
  );
  // Landed on the Overview tab with the live rollout; the History tab lists the deploy.
  assert.equal(
    await page.locator('nav[aria-label="Service sections"] a[aria-current="page"]').textContent(),
    "Overview",
  );
  await page.getByRole("navigation", { name: "Service sections" }).getByRole("link", { name: "History" }).click();
  await page.waitForURL(`${canopy.base}/services/${team}/shop/history?env=dev`);
  await page.getByTestId("history").waitFor();
  assert.match(await page.getByTestId("history").textContent(), /ghcr\.io\/acme\/shop:2\.3\.0/);
  assert.deepEqual(problems, [], `console errors or policy violations: ${problems.join("\n")}`);
  await context.close();
});

test("a viewer opening the same deploy button is told they may not deploy for any team", async () => {
  const team = uniqueName("view");
  const viewer = await canopy.createUser({ team, role: "viewer" });
  const { context, page, problems } = await newPage(canopy.browser, { user: viewer });
  await page.goto(buttonUrl());
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  assert.match(
    await page.getByTestId("cannot-deploy").textContent(),
    /You may not deploy for any team: deploying needs the deployer role in a team/,
  );
  assert.equal(await page.locator("#image").count(), 0, "no deploy form");
  assert.deepEqual(problems, [], `console errors or policy violations: ${problems.join("\n")}`);
  await context.close();
});
