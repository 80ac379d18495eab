// Accessibility with axe-core (issue 16, item 5): every page, with JavaScript (hydrated) and
// without (what a browser without JavaScript builds), has no serious or critical violation;
// the energy charts have text alternatives. Data is seeded so no page is empty: a service
// deployed twice on the control plane (simulated pods), with measured energy.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  checkA11y,
  checkA11yWithoutJs,
  deployAndWait,
  ingestEnergy,
  newPage,
  startCanopy,
  startGithubDouble,
  uniqueName,
} from "./harness.mjs";

const CANOPY_YAML = "name: shop\nimage: ghcr.io/acme/shop:2.3.0\nport: 8080\nreplicas: 1\n";

let canopy;
let github;
let team;
before(async () => {
  github = await startGithubDouble({
    repos: [{ owner: "acme", name: "shop", private: true, default_branch: "main", installed: true }],
    files: [{ owner: "acme", repo: "shop", ref: "main", path: "canopy.yaml", content: CANOPY_YAML }],
  });
  canopy = await startCanopy({ kube: true, env: github.env });
  team = uniqueName("a11y");
  const spec = { team, name: "web", environment: "dev", port: 8080, replicas: 1 };
  await deployAndWait(canopy, { ...spec, image: "ghcr.io/acme/web:1.0.0" });
  await deployAndWait(canopy, { ...spec, image: "ghcr.io/acme/web:1.1.0" });
  await ingestEnergy(canopy, { team, service: "web", joules: 1800 });
});
after(async () => {
  await canopy?.stop();
  github?.stop();
});

/// Every page, signed in as an organisation admin unless `anonymous`.
const PAGES = [
  { name: "home", path: () => "/" },
  { name: "services", path: () => "/services" },
  { name: "register a service", path: () => "/services/new" },
  { name: "service overview tab", path: () => `/services/${team}/web?env=dev` },
  { name: "service deploy tab", path: () => `/services/${team}/web/deploy?env=dev` },
  { name: "service pods & logs tab", path: () => `/services/${team}/web/pods?env=dev` },
  { name: "service energy tab", path: () => `/services/${team}/web/energy?env=dev` },
  { name: "service dependencies tab", path: () => `/services/${team}/web/dependencies?env=dev` },
  { name: "service history tab", path: () => `/services/${team}/web/history?env=dev` },
  { name: "energy, 24 h", path: () => "/energy?period=24h" },
  { name: "energy, 90 days", path: () => "/energy?period=90d" },
  { name: "teams", path: () => "/teams" },
  { name: "team", path: () => `/teams/${team}` },
  { name: "dependencies", path: () => "/dependencies" },
  { name: "deploy button", path: () => "/deploy?repo=acme/shop" },
  { name: "deploy button, unknown repository", path: () => "/deploy?repo=acme/nothing-here", anyStatus: true },
  { name: "service's GitHub page", path: () => `/services/${team}/web/github?env=dev` },
  { name: "team's weekly e-mail", path: () => `/teams/${team}/weekly-email` },
  { name: "audit log", path: () => "/audit" },
  { name: "people (admin)", path: () => "/admin/users" },
  { name: "e-mail outbox (admin)", path: () => "/admin/outbox" },
  { name: "sign-in", path: () => "/signin", anonymous: true },
  { name: "not found", path: () => "/no-such-page", anyStatus: true },
];

for (const javaScriptEnabled of [true, false]) {
  for (const target of PAGES) {
    test(`axe: ${target.name} ${javaScriptEnabled ? "with" : "without"} JavaScript`, async () => {
      const user = target.anonymous ? { user: null } : {};
      const url = `${canopy.base}${target.path()}`;
      const { context, page } = await newPage(canopy.browser, { ...user, bypassCSP: true, viewport: { width: 1280, height: 800 } });
      try {
        if (javaScriptEnabled) {
          const response = await page.goto(url);
          if (!target.anyStatus) assert.equal(response.status(), 200, `${target.name}: ${url}`);
          if (await page.locator("main[data-hydrated]").count()) {
            await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
          }
          await checkA11y(page, `${target.name} (${url})`);
        } else {
          const noJs = await newPage(canopy.browser, { ...user, javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
          try {
            const response = await checkA11yWithoutJs(noJs.page, page, url);
            if (!target.anyStatus) assert.equal(response.status(), 200, `${target.name}: ${url}`);
          } finally {
            await noJs.context.close();
          }
        }
      } finally {
        await context.close();
      }
    });
  }
}

for (const javaScriptEnabled of [true, false]) {
  test(`the energy charts have text alternatives ${javaScriptEnabled ? "with" : "without"} JavaScript`, async () => {
    const { context, page } = await newPage(canopy.browser, { javaScriptEnabled });
    await page.goto(`${canopy.base}/services/${team}/web/energy?env=dev&period=24h`);
    const chart = page.getByTestId("service-energy").getByTestId("energy-chart");
    const image = chart.locator('svg[role="img"]').first();
    const label = await image.getAttribute("aria-label");
    // The label summarises the series: 1,800 J = 500 mWh measured, and its highest step.
    assert.match(label, new RegExp(`^Energy of ${team} / web from .* per 1 h: measured 500 mWh · .* CO2e in total; highest step .* with 500 mWh\\.`));
    // Every step's figures as a table, with headers, under the chart.
    const table = chart.getByTestId("chart-data").locator("table");
    assert.deepEqual(
      await table.locator("thead th").allTextContents(),
      ["Step starting", "Measured", "Estimated", "Simulated"],
    );
    const rows = table.locator("tbody tr");
    assert.equal(await rows.count(), 24, "one row per hour of the last 24 hours");
    assert.match(await rows.filter({ hasText: "500 mWh" }).first().textContent(), /500 mWh · .* CO2e/);
    // The organisation's chart too.
    await page.goto(`${canopy.base}/energy?period=24h`);
    const overall = page.getByTestId("energy-chart").first();
    assert.match(await overall.locator('svg[role="img"]').first().getAttribute("aria-label"), /measured .* in total; highest step/);
    assert.ok((await overall.getByTestId("chart-data").locator("tbody tr").count()) > 0);
    await context.close();
  });
}
