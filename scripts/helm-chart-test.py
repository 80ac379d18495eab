#!/usr/bin/env python3
"""Tests Canopy's Helm chart: lint, render, schema refusals, hardening rules, server-side dry run.

Run by scripts/test-helm-chart.sh (which provides the venv with helm-python-sdk and PyYAML and a
kubeconfig). Every check prints one line; the first failure ends the run with exit status 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

RELEASE = "canopy"
FIELD_MANAGER = "canopy-helm-test"
# The labels Canopy puts on every object of a user's service (server/src/deploy/render/mod.rs).
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
# API versions an older control plane may not serve, and the older version with the same fields
# for what the chart sets (PodDisruptionBudget: maxUnavailable and selector).
FALLBACK_VERSIONS = {("policy/v1", "PodDisruptionBudget"): "policy/v1beta1"}


class Failure(Exception):
    pass


def ok(message: str) -> None:
    print(f"    ok  {message}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


# --------------------------------------------------------------------------------------------
# lint and render
# --------------------------------------------------------------------------------------------


def lint(chart: Path, values: dict[str, Any] | None, label: str) -> None:
    report = helm.lint(str(chart), values, strict=True, namespace="canopy-system")
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    problems += [{"error": e} for e in report.get("errors") or []]
    check(not problems, f"helm lint ({label}) found problems: {json.dumps(problems, indent=2)}")
    ok(f"helm lint --strict ({label})")


def render(chart: Path, values: dict[str, Any] | None, namespace: str) -> list[dict[str, Any]]:
    with helm.Chart.load(str(chart)) as loaded:
        manifests = loaded.render(values, name=RELEASE, namespace=namespace, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if not path.endswith(".yaml"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                check("kind" in document, f"{path}: a document without kind")
                objects.append(document)
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    found = [
        o
        for o in by_kind(objects, kind)
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
    ]
    check(len(found) == 1, f"expected one {kind} of the {component}, found {len(found)}")
    return found[0]


# --------------------------------------------------------------------------------------------
# bad values
# --------------------------------------------------------------------------------------------

# (values, text the refusal must contain: the field's path and what is wrong)
BAD_VALUES = [
    ({"portal": {"replicaCount": "two"}}, ["/portal/replicaCount", "want integer"]),
    ({"portal": {"replicas": 2}}, ["/portal", "'replicas' not allowed"]),
    ({"portal": {"image": {"tag": "latest please"}}}, ["/portal/image/tag", "does not match pattern"]),
    ({"portal": {"publicUrl": "canopy.example.com"}}, ["/portal/publicUrl"]),
    ({"portal": {"energy": {"retentionDays": 400}}}, ["/portal/energy/retentionDays", "366"]),
    ({"portal": {"database": {"existingSecret": "", "url": ""}}}, ["/portal/database"]),
    ({"portal": {"github": {"enabled": True}}}, ["/portal/github"]),
    ({"portal": {"githubApp": {"enabled": True, "appId": "12"}}}, ["/portal/githubApp", "existingSecret"]),
    # null removes a default: a portal without a memory limit is refused like a user's service.
    ({"portal": {"resources": {"limits": {"memory": None}}}}, ["/portal/resources/limits", "memory"]),
    ({"portal": {"resources": {"requests": {"cpu": "a lot"}}}}, ["/portal/resources/requests/cpu"]),
    ({"agent": {"source": "guess"}}, ["/agent/source"]),
    ({"agent": {"credential": "secret"}}, ["/agent/credential"]),
]


def node_identity(chart: Path, default_objects: list[dict[str, Any]], namespace: str) -> None:
    """By default the agent's identity is its pod's token, which the portal is told to review;
    node tokens from a Secret are the opt-in, and then the portal reviews nothing."""
    def env_of(objects: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
        pod = one(objects, kind, component)["spec"]["template"]["spec"]
        return {e["name"]: e.get("value") for c in pod["containers"] for e in c.get("env", [])}

    agent_env = env_of(default_objects, "DaemonSet", "agent")
    portal_env = env_of(default_objects, "Deployment", "portal")
    account = one(default_objects, "ServiceAccount", "agent")["metadata"]["name"]
    check(agent_env.get("CANOPY_IDENTITY_TOKEN_FILE") == "/var/run/secrets/canopy-identity/token"
          and "CANOPY_NODE_TOKEN_FILE" not in agent_env, f"default agent credential: {agent_env}")
    check(portal_env.get("CANOPY_AGENT_SERVICE_ACCOUNT") == f"{namespace}/{account}"
          and portal_env.get("CANOPY_AGENT_TOKEN_AUDIENCE") == "canopy",
          f"the portal is not told the agents' ServiceAccount: {portal_env}")
    tokens = render(chart, {"agent": {"credential": "nodeTokens"}}, namespace)
    agent_env = env_of(tokens, "DaemonSet", "agent")
    portal_env = env_of(tokens, "Deployment", "portal")
    check("CANOPY_NODE_TOKEN_FILE" in agent_env and "CANOPY_IDENTITY_TOKEN_FILE" not in agent_env,
          f"agent.credential=nodeTokens: {agent_env}")
    check("CANOPY_AGENT_SERVICE_ACCOUNT" not in portal_env, "agent.credential=nodeTokens still has the portal review tokens")
    check(("authentication.k8s.io", "tokenreviews") not in granted(one(tokens, "ClusterRole", "portal")),
          "agent.credential=nodeTokens still grants tokenreviews")
    check(not agent_problems(one(tokens, "DaemonSet", "agent")), "agent.credential=nodeTokens breaks the agent's rules")
    ok("node identity: the agent's pod token by default (no Secret of every node's token), node tokens opt-in")


def refuses(chart: Path, values: dict[str, Any], expected: list[str]) -> None:
    label = json.dumps(values)
    with helm.Chart.load(str(chart)) as loaded:
        try:
            loaded.render(values, name=RELEASE, namespace="canopy-system", is_install=True)
        except helm.HelmValuesError as error:
            message = str(error)
        else:
            raise Failure(f"bad values {label} were accepted by helm template")
    missing = [text for text in expected if text not in message]
    check(not missing, f"bad values {label}: the refusal does not say {missing}:\n{message}")
    report = helm.lint(str(chart), values, strict=True, namespace="canopy-system")
    lint_text = json.dumps(report)
    check(
        any(m.get("severity", 0) >= 3 for m in report.get("messages", [])) or report.get("errors"),
        f"bad values {label}: helm lint did not report an error",
    )
    check(expected[0] in lint_text, f"bad values {label}: helm lint does not name {expected[0]}")
    first = next(line.strip() for line in message.splitlines() if line.strip().startswith("- at"))
    ok(f"refused {label}: {first}")


# Switches that leave objects out: (values, (kind, component) pairs that must not be rendered).
VARIANTS = [
    ({"agent": {"enabled": False}}, {("DaemonSet", "agent"), ("ClusterRole", "agent"), ("ServiceAccount", "agent")}),
    ({"portal": {"replicaCount": 1}}, {("PodDisruptionBudget", "portal")}),
    (
        {"portal": {"serviceAccount": {"create": False, "name": "existing"}, "rbac": {"create": False}}},
        {("ServiceAccount", "portal"), ("ClusterRole", "portal"), ("ClusterRoleBinding", "portal")},
    ),
]


# --------------------------------------------------------------------------------------------
# hardening
# --------------------------------------------------------------------------------------------


def labels_problems(obj: dict[str, Any]) -> list[str]:
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    labels = obj["metadata"].get("labels", {})
    return [f"{where}: label {label} missing" for label in RECOMMENDED_LABELS if not labels.get(label)]


def container_problems(where: str, container: dict[str, Any], as_root: bool) -> list[str]:
    problems = []
    sc = container.get("securityContext") or {}
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem must be true")
    if sc.get("privileged"):
        problems.append(f"{where}: must not be privileged")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        problems.append(f"{where}: capabilities must drop ALL")
    if (sc.get("capabilities") or {}).get("add"):
        problems.append(f"{where}: must add no capability")
    if not as_root and sc.get("runAsNonRoot") is not True:
        problems.append(f"{where}: runAsNonRoot must be true")
    resources = container.get("resources") or {}
    for kind, names in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
        for name in names:
            if not (resources.get(kind) or {}).get(name):
                problems.append(f"{where}: resources.{kind}.{name} must be set")
    for probe in ("livenessProbe", "readinessProbe"):
        if not container.get(probe):
            problems.append(f"{where}: {probe} must be set")
    image = container.get("image") or ""
    if ":" not in image.split("/")[-1] and "@" not in image:
        problems.append(f"{where}: image must name a tag or digest")
    return problems


def portal_problems(deployment: dict[str, Any]) -> list[str]:
    """The rules a user's service gets (server/src/deploy/render/workload.rs), for the portal."""
    problems = labels_problems(deployment)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    where = f"Deployment/{deployment['metadata']['name']}"
    problems += [p.replace("Deployment/", "pod template of Deployment/") for p in labels_problems(
        {"kind": "Deployment", "metadata": {"name": deployment["metadata"]["name"], "labels": spec["template"]["metadata"].get("labels", {})}}
    )]
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod runAsNonRoot must be true")
    if (psc.get("runAsUser") or 0) == 0:
        problems.append(f"{where}: pod runAsUser must be a non-zero uid")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile must be RuntimeDefault")
    for field in ("hostPID", "hostNetwork", "hostIPC"):
        if pod.get(field):
            problems.append(f"{where}: {field} must be off")
    if pod.get("automountServiceAccountToken") is not True:
        problems.append(f"{where}: the portal needs its ServiceAccount token (automount true)")
    strategy = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    if strategy.get("maxUnavailable") != 0:
        problems.append(f"{where}: rolling update must keep every replica (maxUnavailable 0)")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for container in pod["containers"]:
        cwhere = f"{where} container {container['name']}"
        problems += container_problems(cwhere, container, as_root=False)
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        tmp = mounts.get("/tmp")
        if not tmp or "emptyDir" not in volumes.get(tmp["name"], {}):
            problems.append(f"{cwhere}: /tmp must be an emptyDir")
        for mount in mounts.values():
            volume = volumes.get(mount["name"], {})
            if ("secret" in volume or "projected" in volume) and not mount.get("readOnly"):
                problems.append(f"{cwhere}: secret volume {mount['name']} must be mounted read-only")
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            if ((container.get(probe) or {}).get("httpGet") or {}).get("path") != path:
                problems.append(f"{cwhere}: {probe} must GET {path}")
    return problems


def agent_problems(daemonset: dict[str, Any]) -> list[str]:
    """The agent runs as uid 0 (RAPL needs it) but with nothing else: no capability, read-only."""
    problems = labels_problems(daemonset)
    pod = daemonset["spec"]["template"]["spec"]
    where = f"DaemonSet/{daemonset['metadata']['name']}"
    if ((pod.get("securityContext") or {}).get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile must be RuntimeDefault")
    if pod.get("hostNetwork"):
        problems.append(f"{where}: hostNetwork must be off")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for container in pod["containers"]:
        cwhere = f"{where} container {container['name']}"
        problems += container_problems(cwhere, container, as_root=True)
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            host_path = (volume.get("hostPath") or {}).get("path")
            if host_path in ("/sys", "/proc") and not mount.get("readOnly"):
                problems.append(f"{cwhere}: host {host_path} must be mounted read-only")
            if ("secret" in volume or "projected" in volume) and not mount.get("readOnly"):
                problems.append(f"{cwhere}: {mount['name']} must be mounted read-only")
    identity = [
        s["serviceAccountToken"]
        for v in pod.get("volumes", [])
        for s in (v.get("projected") or {}).get("sources", [])
        if "serviceAccountToken" in s
    ]
    env = {e["name"]: e.get("value") for c in pod["containers"] for e in c.get("env", [])}
    secrets = [v for v in pod.get("volumes", []) if (v.get("secret") or {}).get("secretName")]
    if "CANOPY_IDENTITY_TOKEN_FILE" in env:
        # The node identity is the pod's own token: no Secret with every node's token.
        if not any(t.get("audience") == "canopy" for t in identity):
            problems.append(f"{where}: a projected ServiceAccount token with audience canopy must be mounted")
        if secrets:
            problems.append(f"{where}: with the identity token, no Secret may be mounted ({[v['name'] for v in secrets]})")
    elif "CANOPY_NODE_TOKEN_FILE" in env:
        if not secrets:
            problems.append(f"{where}: the node token Secret must be mounted")
    else:
        problems.append(f"{where}: the agent has no credential (CANOPY_IDENTITY_TOKEN_FILE or CANOPY_NODE_TOKEN_FILE)")
    return problems


def rbac_problems(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    for role in by_kind(objects, "ClusterRole") + by_kind(objects, "Role"):
        for index, rule in enumerate(role.get("rules", [])):
            for field in ("apiGroups", "resources", "verbs"):
                if "*" in rule.get(field, []):
                    problems.append(f"{role['kind']}/{role['metadata']['name']} rules[{index}].{field}: '*' (write the names out)")
            if "escalate" in rule.get("verbs", []) or "bind" in rule.get("verbs", []) or "impersonate" in rule.get("verbs", []):
                problems.append(f"{role['kind']}/{role['metadata']['name']} rules[{index}]: escalate/bind/impersonate")
    return problems


def hardening_rules_bite(objects: list[dict[str, Any]]) -> None:
    """The rules themselves are tested: each weakening of the portal or agent is reported."""
    weakenings = {
        "readOnlyRootFilesystem": lambda pod: pod["containers"][0]["securityContext"].pop("readOnlyRootFilesystem"),
        "capabilities must drop ALL": lambda pod: pod["containers"][0]["securityContext"]["capabilities"].update(drop=[]),
        "seccompProfile": lambda pod: pod["securityContext"].pop("seccompProfile"),
        "resources.limits.memory": lambda pod: pod["containers"][0]["resources"]["limits"].pop("memory"),
        "readinessProbe must be set": lambda pod: pod["containers"][0].pop("readinessProbe"),
        "/tmp must be an emptyDir": lambda pod: pod["containers"][0].update(volumeMounts=[]),
        "allowPrivilegeEscalation": lambda pod: pod["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
    }
    for kind, component, rules in (("Deployment", "portal", portal_problems), ("DaemonSet", "agent", agent_problems)):
        for expected, weaken in weakenings.items():
            if component == "agent" and expected.startswith("/tmp"):
                continue
            copy = json.loads(json.dumps(one(objects, kind, component)))
            weaken(copy["spec"]["template"]["spec"])
            found = rules(copy)
            check(any(expected in p for p in found), f"the hardening rules miss a {kind} without {expected}: {found}")
    ok(f"the hardening rules report each of {len(weakenings)} weakenings of the portal and the agent")


# What the portal does in the cluster (server/src/deploy/): (apiGroup, resource) -> verbs.
APPLIED = ("get", "create", "patch")  # server-side apply creates through PATCH
OWNED = APPLIED + ("list", "delete")  # deleted with the service (deploy/apply/delete.rs)
WATCHED = ("get", "list", "watch")  # rollout watch, diagnose, pods and logs pages
PORTAL_NEEDS = {
    ("", "namespaces"): APPLIED,
    ("", "resourcequotas"): APPLIED,
    ("", "limitranges"): APPLIED,
    ("", "services"): OWNED,
    ("", "serviceaccounts"): OWNED,
    ("", "secrets"): OWNED,
    ("apps", "deployments"): OWNED + ("watch",),
    ("networking.k8s.io", "ingresses"): OWNED,
    ("networking.k8s.io", "networkpolicies"): OWNED,
    ("autoscaling", "horizontalpodautoscalers"): OWNED,
    ("policy", "poddisruptionbudgets"): OWNED,
    ("apps", "replicasets"): WATCHED,
    ("", "pods"): WATCHED,
    ("", "events"): WATCHED,
    ("", "pods/log"): ("get",),
    # Agents' node identity (agent.credential=identity, the default): their tokens reviewed.
    ("authentication.k8s.io", "tokenreviews"): ("create",),
}


def granted(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    verbs: dict[tuple[str, str], set[str]] = {}
    for rule in role.get("rules", []):
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                verbs.setdefault((group, resource), set()).update(rule.get("verbs", []))
    return verbs


def portal_rbac(objects: list[dict[str, Any]]) -> None:
    role = one(objects, "ClusterRole", "portal")
    have = granted(role)
    missing = [f"{g or 'core'}/{r}: {sorted(set(v) - have.get((g, r), set()))}" for (g, r), v in PORTAL_NEEDS.items() if set(v) - have.get((g, r), set())]
    extra = [f"{g or 'core'}/{r}: {sorted(v - set(PORTAL_NEEDS.get((g, r), ())))}" for (g, r), v in have.items() if v - set(PORTAL_NEEDS.get((g, r), ()))]
    check(not missing, f"the portal's ClusterRole lacks what Canopy does: {missing}")
    check(not extra, f"the portal's ClusterRole grants more than Canopy does: {extra}")
    binding = one(objects, "ClusterRoleBinding", "portal")
    account = one(objects, "ServiceAccount", "portal")
    pod = one(objects, "Deployment", "portal")["spec"]["template"]["spec"]
    check(
        binding["roleRef"]["name"] == role["metadata"]["name"]
        and binding["subjects"][0]["name"] == account["metadata"]["name"] == pod["serviceAccountName"],
        "the portal's pods, ServiceAccount, ClusterRoleBinding and ClusterRole do not line up",
    )
    agent_role = granted(one(objects, "ClusterRole", "agent"))
    check(agent_role == {("", "pods"): {"get", "list", "watch"}}, f"the agent's ClusterRole grants {agent_role}")
    ok(f"RBAC: the portal may do exactly what it does ({len(PORTAL_NEEDS)} resources), the agent reads pods")


def hardened(objects: list[dict[str, Any]], label: str) -> None:
    portal = one(objects, "Deployment", "portal")
    agent = one(objects, "DaemonSet", "agent")
    problems = portal_problems(portal) + agent_problems(agent) + rbac_problems(objects)
    for obj in objects:
        problems += labels_problems(obj)
    check(not problems, f"hardening ({label}):\n  " + "\n  ".join(problems))
    ok(f"hardening rules ({label}): portal as a user's service, agent root-but-nothing-else, RBAC without '*'")


# --------------------------------------------------------------------------------------------
# the API server
# --------------------------------------------------------------------------------------------


class Kube:
    """A minimal client for the kubeconfig's current context (token or client certificate)."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        context_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self.server = cluster["server"].rstrip("/")
        self.ssl = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE
        elif cluster.get("certificate-authority-data"):
            self.ssl.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif cluster.get("certificate-authority"):
            self.ssl.load_verify_locations(cafile=cluster["certificate-authority"])
        self.headers = {}
        if user.get("token"):
            self.headers["Authorization"] = f"Bearer {user['token']}"
        if user.get("client-certificate-data"):
            self._tmp = tempfile.TemporaryDirectory()
            cert = Path(self._tmp.name, "cert.pem")
            key = Path(self._tmp.name, "key.pem")
            cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            self.ssl.load_cert_chain(str(cert), str(key))
        self._resources: dict[str, dict[str, tuple[str, bool]] | None] = {}

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers, Accept="application/json")
        if data is not None:
            headers["Content-Type"] = content_type
        # An API server that has just started can answer 5xx or 429 for a moment: try again.
        for attempt in range(6):
            req = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, context=self.ssl, timeout=30) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                payload = error.read()
                try:
                    answer = json.loads(payload)
                except ValueError:
                    answer = payload.decode(errors="replace")
                if (error.code >= 500 or error.code == 429) and attempt < 5:
                    time.sleep(1)
                    continue
                return error.code, answer
        raise AssertionError("unreachable")

    def resources(self, group_version: str) -> dict[str, tuple[str, bool]] | None:
        """kind -> (plural, namespaced) for a served group/version; None when not served."""
        if group_version not in self._resources:
            path = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
            status, body = self.request("GET", path)
            self._resources[group_version] = (
                {r["kind"]: (r["name"], r["namespaced"]) for r in body["resources"] if "/" not in r["name"]}
                if status == 200
                else None
            )
        return self._resources[group_version]

    def version(self) -> str:
        status, body = self.request("GET", "/version")
        version = body.get("gitVersion") if status == 200 and isinstance(body, dict) else None
        return version or "unknown version"


def apply_path(kube: Kube, obj: dict[str, Any], namespace: str) -> tuple[str, str]:
    """The server-side apply URL of `obj` (dry run) and the API version used."""
    api_version = obj["apiVersion"]
    resources = kube.resources(api_version)
    if resources is None or obj["kind"] not in resources:
        fallback = FALLBACK_VERSIONS.get((api_version, obj["kind"]))
        check(fallback is not None, f"the API server serves no {api_version} {obj['kind']}")
        api_version = fallback
        resources = kube.resources(api_version)
        check(resources is not None and obj["kind"] in resources, f"the API server serves neither {obj['apiVersion']} nor {fallback} {obj['kind']}")
    plural, namespaced = resources[obj["kind"]]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespaced:
        prefix += f"/namespaces/{obj['metadata'].get('namespace') or namespace}"
    query = urllib.parse.urlencode({"fieldManager": FIELD_MANAGER, "dryRun": "All", "force": "true"})
    return f"{prefix}/{plural}/{obj['metadata']['name']}?{query}", api_version


def dry_run_apply(kube: Kube, objects: list[dict[str, Any]], namespace: str, label: str) -> None:
    notes = set()
    for obj in objects:
        path, api_version = apply_path(kube, obj, namespace)
        body = dict(obj, apiVersion=api_version)
        if api_version != obj["apiVersion"]:
            notes.add(f"{obj['kind']} checked as {api_version} (this API server has no {obj['apiVersion']})")
        status, answer = kube.request("PATCH", path, body, "application/apply-patch+yaml")
        check(
            status in (200, 201),
            f"server-side dry run ({label}) of {obj['kind']}/{obj['metadata']['name']} answered {status}: "
            + str(answer.get("message") if isinstance(answer, dict) and answer.get("message") else answer),
        )
    kinds = sorted({o["kind"] for o in objects})
    ok(f"server-side apply, dry run ({label}): {len(objects)} objects ({', '.join(kinds)}) accepted")
    for note in sorted(notes):
        print(f"        note: {note}")


def invalid_is_refused(kube: Kube, objects: list[dict[str, Any]], namespace: str) -> None:
    """The dry run is a real check: a broken Deployment is refused with the field named."""
    broken = json.loads(json.dumps(one(objects, "Deployment", "portal")))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 70000
    path, _ = apply_path(kube, broken, namespace)
    status, answer = kube.request("PATCH", path, broken, "application/apply-patch+yaml")
    message = answer.get("message", "") if isinstance(answer, dict) else str(answer)
    check(status == 422 and "containerPort" in message, f"a Deployment with containerPort 70000 answered {status}: {message}")
    ok(f"an invalid manifest is refused by the API server: {message[:110]}...")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chart", type=Path, required=True)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    args = parser.parse_args()
    chart: Path = args.chart
    started = time.monotonic()
    full = yaml.safe_load((chart / "ci" / "full-values.yaml").read_text())
    print(f"==> Helm chart {chart} with Helm {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__})", flush=True)
    kube = Kube(args.kubeconfig)
    namespace = f"canopy-helm-test-{os.getpid()}"
    try:
        lint(chart, None, "default values")
        lint(chart, full, "ci/full-values.yaml")
        default_objects = render(chart, None, namespace)
        full_objects = render(chart, full, namespace)
        ok(f"helm template (default values): {len(default_objects)} objects")
        ok(f"helm template (ci/full-values.yaml): {len(full_objects)} objects")
        for kind in ("Ingress", "NetworkPolicy", "Secret", "PodDisruptionBudget"):
            check(by_kind(full_objects, kind), f"ci/full-values.yaml renders no {kind}")
        check(not by_kind(default_objects, "Secret"), "the default values render a Secret (nothing secret is given inline)")
        for values, absent in VARIANTS:
            objects = render(chart, values, namespace)
            kinds = {(o["kind"], o["metadata"]["labels"].get("app.kubernetes.io/component")) for o in objects}
            check(not kinds & absent, f"{json.dumps(values)} still renders {sorted(kinds & absent)}")
            lint(chart, values, json.dumps(values))
        for values, expected in BAD_VALUES:
            refuses(chart, values, expected)
        hardening_rules_bite(default_objects)
        hardened(default_objects, "default values")
        hardened(full_objects, "ci/full-values.yaml")
        portal_rbac(default_objects)
        node_identity(chart, default_objects, namespace)

        print(f"==> Applying to the API server at {kube.server} ({kube.version()})", flush=True)
        status, answer = kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        check(status in (201, 409), f"creating namespace {namespace} answered {status}: {answer}")
        try:
            dry_run_apply(kube, default_objects, namespace, "default values")
            dry_run_apply(kube, full_objects, namespace, "ci/full-values.yaml")
            invalid_is_refused(kube, default_objects, namespace)
        finally:
            kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
    except (Failure, helm.HelmError) as error:
        print(f"\033[1;31mFAILED:\033[0m {error}", file=sys.stderr)
        return 1
    print(f"==> Helm chart checks passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
