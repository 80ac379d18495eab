// Starts the built Canopy server and Debian's Chromium for the browser tests.
//
// Environment (set by scripts/test.sh):
//   CANOPY_BIN          the built `canopy` binary
//   CANOPY_SITE_ROOT    the built site (wasm bundle)
//   CANOPY_E2E_DATABASE_URL  a fresh database for this run
//   CHROMIUM            the browser (default /usr/bin/chromium)
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { chromium } from "playwright-core";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set (make test sets it; see scripts/test.sh)`);
  return value;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitReady(base, server, logs) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`canopy exited early:\n${logs.join("")}`);
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`canopy was not ready within 60 s:\n${logs.join("")}`);
}

/// Spawns the `canopy` binary on a free port with the test database and `apiToken`, and
/// returns `{ base, dataDir, logs, server }` at once (`waitReady` waits for /readyz).
async function spawnServer({ apiToken, env }) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logs = [];
  // Canopy's data directory: the e-mail outbox (.eml files) is written there.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "canopy-e2e-"));
  const server = spawn(required("CANOPY_BIN"), [], {
    env: {
      ...process.env,
      DATABASE_URL: required("CANOPY_E2E_DATABASE_URL"),
      CANOPY_SITE_ROOT: required("CANOPY_SITE_ROOT"),
      CANOPY_LISTEN_ADDR: `127.0.0.1:${port}`,
      CANOPY_API_TOKEN: apiToken,
      CANOPY_DATA_DIR: dataDir,
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout.on("data", (d) => logs.push(d.toString()));
  server.stderr.on("data", (d) => logs.push(d.toString()));
  return { base, dataDir, logs, server };
}

async function stopServer(server) {
  server.kill("SIGTERM");
  await new Promise((resolve) => {
    if (server.exitCode !== null) return resolve();
    server.on("exit", resolve);
  });
}

/// Starts Canopy; with `kube: true` it is connected to the test control plane
/// (CANOPY_TEST_KUBECONFIG) and the node simulator runs beside it.
export async function startCanopy({ kube = false, env = {} } = {}) {
  const apiToken = `e2e-${Math.random().toString(36).slice(2)}-token-0123456789`;
  const { base, dataDir, logs, server } = await spawnServer({
    apiToken,
    env: {
      ...(kube ? { CANOPY_KUBECONFIG: required("CANOPY_TEST_KUBECONFIG") } : { CANOPY_KUBECONFIG: "", CANOPY_SANDBOX: "off" }),
      ...env,
    },
  });
  let simulator = null;
  if (kube) {
    simulator = spawn(required("CANOPY_NODE_SIM_BIN"), [], {
      env: { ...process.env, KUBECONFIG: required("CANOPY_TEST_KUBECONFIG"), CANOPY_SIM_NODE_PREFIX: "e2e-sim", RUST_LOG: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    simulator.stdout.on("data", (d) => logs.push(d.toString()));
    simulator.stderr.on("data", (d) => logs.push(d.toString()));
  }
  await waitReady(base, server, logs);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const canopy = {
    base,
    apiToken,
    browser,
    logs,
    dataDir,
    /// Creates a person through an invite link (made with the bootstrap API token) and
    /// returns their credentials: `{ username, password }`.
    async createUser({ username = uniqueName("user"), team, role, orgAdmin = false } = {}) {
      const password = "e2e password that is long enough";
      const invite = await fetch(`${base}/api/v1/invites`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({ ...(team ? { team, role } : {}), org_admin: orgAdmin }),
      });
      if (invite.status !== 201) throw new Error(`invite: ${invite.status} ${await invite.text()}`);
      const { token } = await invite.json();
      const accepted = await fetch(`${base}/invite/${token}`, {
        method: "POST",
        redirect: "manual",
        headers: { origin: base, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username, password, email: `${username}@example.test` }).toString(),
      });
      if (accepted.status !== 303) throw new Error(`accept invite: ${accepted.status} ${await accepted.text()}`);
      return { username, password };
    },
    async stop() {
      await browser.close();
      simulator?.kill("SIGTERM");
      await stopServer(server);
    },
  };
  // Pages opened on this browser sign in as an organisation admin unless told otherwise.
  signInFor.set(browser, { base, admin: await canopy.createUser({ username: uniqueName("admin"), orgAdmin: true }) });
  return canopy;
}

const signInFor = new WeakMap();

/// Signs `context` in as `user` through the sign-in form's endpoint (the context's cookies).
export async function signIn(context, base, user) {
  const response = await context.request.post(`${base}/signin`, {
    form: { username: user.username, password: user.password, next: "/" },
    headers: { origin: base },
    maxRedirects: 0,
  });
  if (response.status() !== 303) throw new Error(`sign in as ${user.username}: ${response.status()}`);
}

/// A page that records console errors and CSP violations, so a test can assert there were none.
/// Signed in as the browser's admin; `{ user }` signs in as someone else, `{ user: null }` not at all.
export async function newPage(browser, options = {}) {
  const { user: as, ...contextOptions } = options;
  const context = await browser.newContext(contextOptions);
  const canopy = signInFor.get(browser);
  const user = as === undefined ? canopy?.admin : as;
  if (user && canopy) await signIn(context, canopy.base, user);
  const page = await context.newPage();
  const problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(msg.text());
  });
  page.on("pageerror", (err) => problems.push(String(err)));
  page.on("response", (res) => {
    if (res.status() >= 400 && !res.url().includes("__err=")) problems.push(`${res.status()} ${res.url()}`);
  });
  return { context, page, problems };
}

/// Starts the GitHub double (`canopy-github-double`, GitHub's REST API as GitHub documents it)
/// with `seed` (repositories, branches, files), and returns `{ url, env, stop }`, `env` being what
/// Canopy needs to use it as its GitHub App.
export async function startGithubDouble(seed) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "github-double-"));
  const seedFile = path.join(dir, "seed.json");
  fs.writeFileSync(seedFile, JSON.stringify(seed));
  const logs = [];
  const double = spawn(required("CANOPY_GITHUB_DOUBLE_BIN"), ["--listen", `127.0.0.1:${port}`, "--seed", seedFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  double.stderr.on("data", (d) => logs.push(d.toString()));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the GitHub double did not start:\n${logs.join("")}`)), 20_000);
    double.stdout.on("data", (d) => {
      const found = /listening on (http:\/\/\S+)/.exec(d.toString());
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    double.on("exit", (code) => reject(new Error(`the GitHub double exited (${code}):\n${logs.join("")}`)));
  });
  const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
  return {
    url,
    env: {
      CANOPY_GITHUB_API_URL: url,
      CANOPY_GITHUB_APP_ID: "424242",
      CANOPY_GITHUB_APP_PRIVATE_KEY_FILE: path.join(repoRoot, "github-double/fixtures/app-private-key.pem"),
      CANOPY_GITHUB_WEBHOOK_SECRET: "canopy-test-webhook-secret",
    },
    stop() {
      double.kill("SIGTERM");
    },
  };
}

export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

/// Starts another replica of `canopy`: a second `canopy` process on the same database (and the
/// same control plane, without a simulator of its own), as a load balancer would put beside the
/// first. Returns `{ base, logs, stop }`. The browser's cookies are per host, not per port, so a
/// page signed in on the first replica is signed in on this one too (sessions live in PostgreSQL).
export async function startReplica(canopy) {
  const { base, logs, server } = await spawnServer({
    apiToken: canopy.apiToken,
    env: { CANOPY_KUBECONFIG: required("CANOPY_TEST_KUBECONFIG"), HOSTNAME: "e2e-replica-b" },
  });
  await waitReady(base, server, logs);
  return { base, logs, stop: () => stopServer(server) };
}

/// axe-core's browser bundle (end2end/package.json), injected into pages by `checkA11y`.
const axeSource = fs.readFileSync(
  path.join(path.dirname(new URL(import.meta.url).pathname), "../node_modules/axe-core/axe.min.js"),
  "utf8",
);

/// The impacts that fail a page: serious and critical (minor and moderate are reported only).
const FAILING_IMPACTS = new Set(["serious", "critical"]);

/// Runs axe-core on `page` as it is now (injected with `page.addScriptTag`, so the page's
/// context needs `bypassCSP: true`: Canopy's CSP forbids inline scripts) and throws a readable
/// list (rule, impact, target selector, help) if any violation is serious or critical. Returns
/// every violation, for a test that wants to look at the rest.
export async function checkA11y(page, label = page.url()) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.addScriptTag({ content: axeSource });
  }
  const violations = await page.evaluate(async () => {
    const results = await window.axe.run(document, { resultTypes: ["violations"] });
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
    }));
  });
  const failing = violations.filter((v) => FAILING_IMPACTS.has(v.impact));
  // CANOPY_A11Y_REPORT=1 also prints the minor and moderate ones (they do not fail a test).
  if (process.env.CANOPY_A11Y_REPORT) {
    for (const v of violations.filter((v) => !FAILING_IMPACTS.has(v.impact))) {
      console.log(`a11y-report ${v.id} (${v.impact}) on ${label}: ${v.nodes.map((n) => n.target).join(", ")}`);
    }
  }
  if (failing.length > 0) {
    const lines = failing.flatMap((v) =>
      v.nodes.map((n) => `  ${v.id} (${v.impact}) at ${n.target}: ${v.help}\n      ${(n.summary ?? "").replace(/\n/g, "\n      ")}`),
    );
    throw new Error(`axe-core: ${failing.length} serious or critical rule(s) violated on ${label}:\n${lines.join("\n")}`);
  }
  return violations;
}

/// Runs `checkA11y` on what a browser WITHOUT JavaScript shows at `url`: the page is loaded in
/// `noJsPage`'s context (javaScriptEnabled: false), and its DOM, scripts left out, is analysed in
/// `analysisPage` (a JavaScript context with bypassCSP, since axe-core needs timers, which a
/// context without JavaScript does not run), served at the same URL so its stylesheet applies.
/// Returns the no-JS page's response.
export async function checkA11yWithoutJs(noJsPage, analysisPage, url) {
  const response = await noJsPage.goto(url);
  const html = (await noJsPage.content()).replace(/<script\b[\s\S]*?<\/script>/gi, "");
  const target = noJsPage.url();
  await analysisPage.route(target, (route) =>
    route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: html }),
  );
  await analysisPage.goto(target);
  await analysisPage.unroute(target);
  await checkA11y(analysisPage, `${target} (without JavaScript)`);
  return response;
}

/// Deploys `spec` ({ team, name, environment, image, port, replicas, ... }) through the REST
/// API and waits until its revision runs (the control plane's simulated pods are ready).
export async function deployAndWait(canopy, spec, timeout = 90_000) {
  const headers = { authorization: `Bearer ${canopy.apiToken}`, "content-type": "application/json" };
  const response = await fetch(`${canopy.base}/api/v1/deploys`, { method: "POST", headers, body: JSON.stringify({ spec }) });
  const body = await response.text();
  if (response.status !== 202) throw new Error(`deploy: ${response.status} ${body}`);
  const { revision } = JSON.parse(body);
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const status = await fetch(`${canopy.base}/api/v1/services/${spec.team}/${spec.name}/${spec.environment}`, { headers });
    const { history } = await status.json();
    const record = history.find((d) => d.revision === revision);
    if (record?.status === "succeeded") return record;
    if (record?.status === "failed") throw new Error(`deploy failed: ${JSON.stringify(record)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`revision ${revision} of ${spec.team}/${spec.name} was not running within ${timeout} ms`);
}

/// Ingests one measured 60 s interval a few minutes ago for a pod of `team`/`service` in
/// `environment` (`joules` for the pod) through the real ingest API, as an agent would.
export async function ingestEnergy(canopy, { team, service, environment = "dev", joules = 1800 }) {
  const admin = { authorization: `Bearer ${canopy.apiToken}`, "content-type": "application/json" };
  const node = uniqueName("node");
  const created = await fetch(`${canopy.base}/api/v1/energy/node-tokens`, { method: "POST", headers: admin, body: JSON.stringify({ node }) });
  if (created.status !== 201) throw new Error(`node token: ${created.status} ${await created.text()}`);
  const { token } = await created.json();
  const end = new Date(Date.now() - 5 * 60_000);
  const start = new Date(end.getTime() - 60_000);
  const batch = {
    schema_version: 1,
    node,
    batch_id: crypto.randomUUID(),
    created_at: new Date().toISOString(),
    samples: [
      {
        start: start.toISOString(),
        end: end.toISOString(),
        source: "measured",
        host_energy_joules: joules * 2,
        idle_energy_joules: joules,
        system_energy_joules: 0,
        zones: [{ zone: "package-0", energy_joules: joules * 2 }],
        pods: [
          {
            pod_uid: crypto.randomUUID(),
            namespace: `${team}-${environment}`,
            pod: `${service}-1`,
            container: service,
            labels: { "canopy.dev/team": team, "canopy.dev/service": service },
            energy_joules: joules,
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
  if (ingested.status < 200 || ingested.status >= 300) throw new Error(`ingest: ${ingested.status} ${await ingested.text()}`);
}

/// Presses Tab (at most `max` times) until the focused element matches `selector`; fails
/// with where the focus went otherwise. Returns the number of presses.
export async function tabTo(page, selector, max = 120) {
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return i;
  }
  const at = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120));
  throw new Error(`${max} presses of Tab did not reach ${selector} (focus is on ${at})`);
}
