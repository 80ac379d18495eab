// Benchmark: from a pod becoming Ready in the Kubernetes API to the service page showing it.
//
// For each round, a new service with 2 replicas is deployed through the REST API while its
// page is open in Chromium. This script watches the pods through the Kubernetes API itself
// (its own watch, like any client) and notes when each new pod turns Ready; the page notes,
// with a MutationObserver, when its live status first shows "k ready" for the service. Both
// clocks are this machine's. Latency of the k-th ready pod = page time − API time.
//
// Run through scripts/bench-pod-ready.sh (it starts PostgreSQL, the control plane, and builds).
import https from "node:https";
import fs from "node:fs";
import { startCanopy, newPage } from "../tests/harness.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const REPLICAS = 2;
const TEAM = "bench";

function kubeconfig() {
  const text = fs.readFileSync(process.env.CANOPY_TEST_KUBECONFIG, "utf8");
  const server = /server:\s*(\S+)/.exec(text)[1];
  const token = /token:\s*(\S+)/.exec(text)[1];
  return { server: new URL(server), token };
}

/// Watches the pods of the team's dev namespace; calls `onReady(serviceName, podName, t)` the
/// first time each pod is seen Ready.
function watchPods(onReady) {
  const { server, token } = kubeconfig();
  const seen = new Set();
  const request = https.request(
    {
      host: server.hostname,
      port: server.port,
      path: `/api/v1/namespaces/${TEAM}-dev/pods?watch=1`,
      headers: { authorization: `Bearer ${token}` },
      rejectUnauthorized: false,
    },
    (response) => {
      let buffer = "";
      response.on("data", (chunk) => {
        const now = Date.now();
        buffer += chunk.toString();
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (!line.trim()) continue;
          const event = JSON.parse(line);
          const pod = event.object;
          const ready = (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
          const name = pod.metadata?.name;
          if (ready && !seen.has(name)) {
            seen.add(name);
            onReady(pod.metadata.labels?.["canopy.dev/service"], name, now);
          }
        }
      });
    },
  );
  request.end();
  return () => request.destroy();
}

function percentile(sorted, p) {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

const canopy = await startCanopy({ kube: true });
const readyAt = new Map(); // service -> [t, ...] in order
const stopWatch = watchPods((service, _pod, t) => {
  if (!readyAt.has(service)) readyAt.set(service, []);
  readyAt.get(service).push(t);
});
const latencies = [];
// Rounds whose page was not the real page (an error status, or no live-status panel): counted
// apart, never timed. An error page served fast is not a measurement.
const failed = [];
try {
  const { page } = await newPage(canopy.browser);
  for (let round = 1; round <= ROUNDS; round++) {
    const service = `r${round}-${Date.now().toString(36)}`;
    const answer = await page.goto(`${canopy.base}/services/${TEAM}/${service}?env=dev`);
    if (answer?.status() !== 200) {
      failed.push(`round ${round}: the page answered ${answer?.status()}`);
      continue;
    }
    await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
    if ((await page.locator('[data-testid="live-status"]').count()) === 0) {
      failed.push(`round ${round}: the page has no live-status panel`);
      continue;
    }
    await page.evaluate(() => {
      window.__shown = [];
      const panel = document.querySelector('[data-testid="live-status"]');
      const note = () => {
        const match = /(\d+) ready/.exec(panel.textContent);
        if (match) window.__shown.push({ ready: Number(match[1]), t: Date.now() });
      };
      new MutationObserver(note).observe(panel, { subtree: true, childList: true, characterData: true });
    });
    const response = await fetch(`${canopy.base}/api/v1/deploys`, {
      method: "POST",
      headers: { authorization: `Bearer ${canopy.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({
        spec: { team: TEAM, name: service, environment: "dev", image: `ghcr.io/acme/web:1.0.${round}`, port: 8080, replicas: REPLICAS },
      }),
    });
    if (response.status !== 202 && response.status !== 201) {
      throw new Error(`deploy refused: ${response.status} ${await response.text()}`);
    }
    await page.waitForFunction(
      (n) => window.__shown.some((s) => s.ready >= n),
      REPLICAS,
      { timeout: 60_000 },
    );
    // The API watch may deliver a moment after the page: wait for it too.
    const deadline = Date.now() + 10_000;
    while ((readyAt.get(service)?.length ?? 0) < REPLICAS && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const shown = await page.evaluate(() => window.__shown);
    const api = readyAt.get(service) ?? [];
    for (let k = 1; k <= REPLICAS; k++) {
      const pageTime = shown.find((s) => s.ready >= k)?.t;
      if (pageTime === undefined || api[k - 1] === undefined) {
        throw new Error(`round ${round}: no time for pod ${k} (page ${JSON.stringify(shown)}, api ${JSON.stringify(api)})`);
      }
      latencies.push(pageTime - api[k - 1]);
    }
    process.stdout.write(`round ${round}: ${latencies.slice(-REPLICAS).join(" ms, ")} ms\n`);
  }
} finally {
  stopWatch();
  await canopy.stop();
}
const sorted = [...latencies].sort((a, b) => a - b);
for (const why of failed) console.log(`FAILED ${why}`);
console.log(
  `pod Ready (Kubernetes API) -> service page shows it: n=${sorted.length} ` +
    `median ${percentile(sorted, 50)} ms, p95 ${percentile(sorted, 95)} ms, max ${sorted[sorted.length - 1]} ms ` +
    `(target <= 1000 ms); failed rounds (not the page): ${failed.length} of ${ROUNDS}`,
);
if (failed.length > 0) process.exitCode = 1;
