"""The Helm chart, rendered by the real Helm engine (helm-python-sdk links Helm's Go SDK)."""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import (
    CHART,
    RELEASE_NAMESPACE,
    ROOT,
    VARIANTS,
    grants,
    notes,
    of_kind,
    one,
    operator_rbac,
    rbac_contract,
    render,
)

# Oldest Kubernetes the project supports, and the one k8s-openapi targets.
KUBE_VERSIONS = ["1.25", "1.33"]
# Kinds whose schema is not part of Kubernetes (they come from CRDs of other projects).
FOREIGN_KINDS = {"ServiceMonitor", "PrometheusRule"}


# --- lint -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_lint_passes_without_warnings(variant: str) -> None:
    report = helm.lint(CHART, VARIANTS[variant], strict=True, namespace=RELEASE_NAMESPACE)
    assert report["errors"] == [], report
    # Severity 1 is informational (e.g. "icon is recommended"); warnings and errors fail.
    serious = [m for m in report["messages"] if m["severity"] >= 2]
    assert serious == [], serious


def test_lint_reports_a_broken_chart(tmp_path) -> None:
    # The lint check itself must be able to fail: a template with a syntax error.
    broken = tmp_path / "broken"
    with helm.Chart.load(CHART) as chart:
        chart.save_dir(tmp_path)
    (tmp_path / CHART.name).rename(broken)
    (broken / "templates" / "broken.yaml").write_text("{{ if }}\n")
    report = helm.lint(broken, strict=True)
    assert report["errors"] or any(m["severity"] >= 2 for m in report["messages"]), report


# --- rendered objects are valid Kubernetes ------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_rendered_object_validates(chart, variant: str, kube_version: str) -> None:
    objects = render(chart, VARIANTS[variant])
    assert objects
    for obj in objects:
        if obj["kind"] in FOREIGN_KINDS:
            continue  # checked structurally (test_service_monitor_..., test_monitoring.py)
        # strict: unknown fields are errors too (additionalProperties: false everywhere).
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} at {path}: {e.message}")


def test_validation_catches_an_invalid_object(chart) -> None:
    # The validator must be able to fail on what the chart renders.
    deployment = one(render(chart, {}), "Deployment")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.33", strict=True)
    deployment["spec"]["replicas"] = 1
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.33", strict=True)


def test_every_object_has_the_release_labels(chart) -> None:
    for obj in render(chart, VARIANTS["everything"]):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "cco", obj["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", obj["kind"]
        assert labels["team"] == "data", obj["kind"]
        assert obj["metadata"]["annotations"]["owner"] == "data-team", obj["kind"]


def test_namespaced_objects_live_in_the_release_namespace(chart) -> None:
    for obj in render(chart, VARIANTS["default"]):
        if obj["kind"] in {"ClusterRole", "ClusterRoleBinding"}:
            assert "namespace" not in obj["metadata"]
        else:
            assert obj["metadata"]["namespace"] == RELEASE_NAMESPACE, obj["kind"]


# --- which objects each variant renders ---------------------------------------------------


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def test_default_renders_the_cluster_scoped_operator(chart) -> None:
    assert kinds(render(chart, {})) == sorted(
        [
            "ClusterRole",
            "ClusterRole",  # the user roles, view and edit (test_user_roles.py)
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
    )


def test_namespace_scope_gives_the_operator_no_cluster_wide_rbac(chart) -> None:
    objects = render(chart, VARIANTS["namespace-scoped"])
    assert kinds(operator_rbac(objects)) == sorted(
        ["Deployment", "Role", "Role", "RoleBinding", "RoleBinding", "Service", "ServiceAccount"]
    )
    # The only cluster-scoped RBAC left is the user roles, which nothing binds.
    assert of_kind(objects, "ClusterRoleBinding") == []
    assert len(of_kind(objects, "ClusterRole")) == 2


def test_pdb_only_with_more_than_one_replica(chart) -> None:
    assert of_kind(render(chart, {"replicas": 1}), "PodDisruptionBudget") == []
    objects = render(chart, VARIANTS["ha"])
    pdb = one(objects, "PodDisruptionBudget")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_ha_spreads_replicas_over_nodes_unless_affinity_is_given(chart) -> None:
    pod = one(render(chart, VARIANTS["ha"]), "Deployment")["spec"]["template"]["spec"]
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    own = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}
    pod = one(render(chart, {"replicas": 2, "affinity": own}), "Deployment")["spec"]["template"]["spec"]
    assert pod["affinity"] == own
    pod = one(render(chart, {}), "Deployment")["spec"]["template"]["spec"]
    assert "affinity" not in pod


def test_pdb_that_would_block_every_drain_is_refused(chart) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"minAvailable \(2\) must be below replicas \(2\)"):
        render(chart, {"replicas": 2, "podDisruptionBudget": {"minAvailable": 2}})


def test_metrics_off_renders_no_service(chart) -> None:
    objects = render(chart, {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}})
    assert of_kind(objects, "Service") == [] and of_kind(objects, "ServiceMonitor") == []


def test_service_monitor_scrapes_the_metrics_service(chart) -> None:
    # ServiceMonitor is prometheus-operator's CRD, which kubernetes-validate has no schema
    # for: check what the scrape depends on instead.
    objects = render(chart, VARIANTS["metrics-on"])
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [RELEASE_NAMESPACE]
    port_names = {p["name"] for p in service["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "30s" and endpoint["scrapeTimeout"] == "10s"
    # The per-collection series keep the collection's namespace label.
    assert endpoint["honorLabels"] is True
    assert set(monitor["spec"]) == {"selector", "namespaceSelector", "endpoints"}


def test_metrics_service_reaches_the_container_port(chart) -> None:
    objects = render(chart, {"metrics": {"port": 9090, "service": {"port": 80}}})
    service = one(objects, "Service")
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    (container_port,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    assert container_port["containerPort"] == 9090
    assert "--metrics-addr=0.0.0.0:9090" in container["args"]
    assert service["spec"]["selector"].items() <= container_labels(objects).items()


def container_labels(objects: list[dict[str, Any]]) -> dict[str, str]:
    return one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]


def test_network_policy_limits_ingress_to_metrics(chart) -> None:
    objects = render(chart, VARIANTS["metrics-on"])
    policy = one(objects, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= container_labels(objects).items()
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "http-metrics", "protocol": "TCP"}]
    assert ingress["from"] == VARIANTS["metrics-on"]["networkPolicy"]["metricsFrom"]
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP"), (5432, "TCP")}
    assert of_kind(render(chart, {}), "NetworkPolicy") == []


# --- the operator's Deployment --------------------------------------------------------------


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (c,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def test_deployment_passes_settings_to_the_operator(chart) -> None:
    c = container(render(chart, {"logging": {"format": "plain", "level": "debug"}}))
    assert c["image"] == "ghcr.io/mtproto-dev/channel-collection-operator:0.1.0"
    assert "--log-format=plain" in c["args"]
    assert "--collector-image=ghcr.io/mtproto-dev/collector-job:0.1.0" in c["args"]
    assert c["args"][0] == "run"
    assert not any(a.startswith("--namespace") for a in c["args"]), "cluster scope watches all"
    assert "--lease-name=cco-channel-collection-operator" in c["args"]
    assert "--status-refresh=30s" in c["args"]
    assert "--audit-retention=30d" in c["args"]
    env = {e["name"]: e for e in c["env"]}
    assert env["RUST_LOG"]["value"] == "debug"
    # Optional: without the Secret the operator starts and reports Job-level status only.
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "channel-collection-database",
        "key": "DATABASE_URL",
        "optional": True,
    }
    assert env["LEASE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_monitoring_page_is_on_by_default_and_can_be_turned_off(chart) -> None:
    assert "--monitoring-page=true" in container(render(chart, {}))["args"]
    off = render(chart, {"monitoringPage": {"enabled": False}})
    assert "--monitoring-page=false" in container(off)["args"]
    # The page is on the metrics port: no Service, Ingress or port of its own.
    assert {o["kind"] for o in off} == {o["kind"] for o in render(chart, {})}
    assert "port-forward" in notes(chart, {}) and "port-forward" not in notes(chart, {"monitoringPage": {"enabled": False}})


def test_namespace_scope_tells_the_operator_which_namespace(chart) -> None:
    assert "--namespace=telegram" in container(render(chart, VARIANTS["namespace-scoped"]))["args"]
    scoped = container(render(chart, VARIANTS["namespace-scoped-release-namespace"]))
    assert f"--namespace={RELEASE_NAMESPACE}" in scoped["args"]


def test_images_by_tag_or_digest(chart) -> None:
    digest = "sha256:" + "b" * 64
    c = container(
        render(
            chart,
            {
                "image": {"repository": "registry.example.com/ops/cco", "tag": "1.2.3"},
                "collector": {"image": {"repository": "registry.example.com/ops/collector", "digest": digest}},
            },
        )
    )
    assert c["image"] == "registry.example.com/ops/cco:1.2.3"
    assert f"--collector-image=registry.example.com/ops/collector@{digest}" in c["args"]


def test_default_database_secret_is_configurable(chart) -> None:
    c = container(render(chart, {"database": {"secretRef": {"name": "pg", "key": "url"}}}))
    env = {e["name"]: e for e in c["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "url", "optional": True}
    assert "--default-database-secret=pg" in c["args"]
    assert "--default-database-secret-key=url" in c["args"]


def test_default_media_destination_reaches_the_operator_as_json(chart) -> None:
    env = {e["name"]: e for e in container(render(chart, {}))["env"]}
    assert "MEDIA_DESTINATION" not in env, "no default unless one is given"
    s3 = {"bucket": "archive", "endpoint": "http://minio.storage:9000", "pathStyle": True,
          "credentialsSecret": "media-s3"}
    env = {e["name"]: e for e in container(render(chart, {"media": {"destination": {"s3": s3}}}))["env"]}
    assert json.loads(env["MEDIA_DESTINATION"]["value"]) == {"s3": s3}
    directory = {"persistentVolumeClaim": "archive", "subPath": "telegram"}
    env = {e["name"]: e for e in container(render(chart, {"media": {"destination": {"directory": directory}}}))["env"]}
    assert json.loads(env["MEDIA_DESTINATION"]["value"]) == {"directory": directory}


def test_extras_reach_the_pod(chart) -> None:
    objects = render(chart, VARIANTS["everything"])
    pod = one(objects, "Deployment")["spec"]["template"]
    assert pod["metadata"]["labels"]["tier"] == "control"
    assert pod["metadata"]["annotations"] == {"example.com/scrape": "true", "owner": "data-team"}
    assert {"name": "EXTRA", "value": "1"} in pod["spec"]["containers"][0]["env"]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["spec"]["priorityClassName"] == "collectors-high"
    assert pod["spec"]["tolerations"][0]["key"] == "dedicated"
    assert pod["spec"]["containers"][0]["image"].endswith("@sha256:" + "a" * 64)
    sa = one(objects, "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"example.com/role": "cco", "owner": "data-team"}


def test_existing_service_account(chart) -> None:
    objects = render(chart, {"serviceAccount": {"create": False, "name": "ops-sa"}})
    assert of_kind(objects, "ServiceAccount") == []
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops-sa"
    for binding in of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ops-sa", "namespace": RELEASE_NAMESPACE}]
    with pytest.raises(helm.HelmRenderError, match="serviceAccount.name is required"):
        render(chart, {"serviceAccount": {"create": False}})


def test_long_release_names_stay_within_63_characters(chart) -> None:
    long = "a" * 53  # Helm's longest release name
    manifests = chart.render({"replicas": 2, **VARIANTS["monitoring-on"]}, name=long, namespace=RELEASE_NAMESPACE)
    for path, text in manifests.items():
        if path.endswith("NOTES.txt"):
            continue
        for obj in filter(None, yaml.safe_load_all(text)):
            assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
            for value in obj["metadata"]["labels"].values():
                assert len(value) <= 63, value


def test_notes_tell_how_to_start(chart) -> None:
    text = notes(chart, VARIANTS["namespace-scoped"])
    assert "watching namespace telegram" in text
    assert "kubectl get chc -w" in text
    assert "kubectl wait --for=condition=Ready chc/NAME" in text
    assert "collector-job login" in text
    assert "every namespace" in notes(chart, {})


# --- values.schema.json -----------------------------------------------------------------------


def test_values_schema_is_draft7_and_accepts_the_defaults() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))


BAD_VALUES = [
    ({"replicas": 0}, "/replicas", "minimum"),
    ({"replicas": "2"}, "/replicas", "want integer"),
    ({"watch": {"scope": "Everywhere"}}, "/watch/scope", "'Cluster', 'Namespace'"),
    ({"watch": {"scope": "Namespace", "namespace": "Bad_Name"}}, "/watch/namespace", "does not match pattern"),
    ({"logging": {"format": "xml"}}, "/logging/format", "'json', 'plain'"),
    ({"statusRefresh": "10 seconds"}, "/statusRefresh", "does not match pattern"),
    ({"statusRefresh": "0s"}, "/statusRefresh", "does not match pattern"),
    ({"auditRetention": "a month"}, "/auditRetention", "does not match pattern"),
    ({"metrics": {"dashboard": {"namespace": "Monitoring"}}}, "/metrics/dashboard/namespace", "does not match pattern"),
    ({"metrics": {"prometheusRule": {"enable": True}}}, "/metrics/prometheusRule", "additional properties 'enable' not allowed"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "'Always', 'IfNotPresent', 'Never'"),
    ({"image": {"digest": "sha256:123"}}, "/image/digest", "does not match pattern"),
    ({"collector": {"image": {"repository": ""}}}, "/collector/image/repository", "minLength"),
    ({"database": {"secretRef": {"name": "", "key": "url"}}}, "/database/secretRef/name", "minLength"),
    ({"metrics": {"port": 80}}, "/metrics/port", "minimum"),
    ({"metrics": {"port": 70000}}, "/metrics/port", "maximum"),
    ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "/metrics/serviceMonitor/interval", "does not match pattern"),
    ({"networkPolicy": {"apiServerPorts": []}}, "/networkPolicy/apiServerPorts", "minItems"),
    ({"resources": {"limits": {"memory": "lots"}}}, "/resources/limits/memory", "does not match pattern"),
    ({"replica": 2}, "", "additional properties 'replica' not allowed"),
    (
        {"media": {"destination": {"s3": {"bucket": "archive"}, "directory": {"persistentVolumeClaim": "a"}}}},
        "/media/destination",
        "maxProperties",
    ),
    ({"media": {"destination": {"s3": {"prefix": "tg/"}}}}, "/media/destination/s3", "missing property 'bucket'"),
    ({"media": {"destination": {"s3": {"bucket": "archive", "pathstyle": True}}}}, "/media/destination/s3",
     "additional properties 'pathstyle' not allowed"),
    ({"media": {"destination": {"s3": {"bucket": "archive", "endpoint": "minio:9000"}}}},
     "/media/destination/s3/endpoint", "does not match pattern"),
    ({"media": {"destination": {"directory": {"persistentVolumeClaim": "a", "subPath": "/srv"}}}},
     "/media/destination/directory/subPath", "does not match pattern"),
    ({"metrics": {"enable": True}}, "/metrics", "additional properties 'enable' not allowed"),
    ({"rbac": {"aggregateToDefaultRoles": "yes"}}, "/rbac/aggregateToDefaultRoles", "want boolean"),
    ({"monitoringPage": {"enabled": "yes"}}, "/monitoringPage/enabled", "want boolean"),
    ({"extraEnv": [{"name": "DATABASE_URL", "value": "x"}]}, "/extraEnv/0/name", "not"),
    # The restricted Pod Security Standard cannot be switched off through values.
    ({"securityContext": {"allowPrivilegeEscalation": True}}, "/securityContext/allowPrivilegeEscalation", "value must be false"),
    ({"securityContext": {"privileged": True}}, "/securityContext", "additional properties 'privileged' not allowed"),
    ({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}, "/securityContext/capabilities/drop", "ALL"),
    ({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "/securityContext/capabilities/add/0", "NET_BIND_SERVICE"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot", "value must be true"),
    ({"podSecurityContext": {"runAsUser": 0}}, "/podSecurityContext/runAsUser", "minimum"),
    ({"podSecurityContext": {"seccompProfile": {"type": "Unconfined"}}}, "/podSecurityContext/seccompProfile/type", "'RuntimeDefault', 'Localhost'"),
    ({"podSecurityContext": {"hostNetwork": True}}, "/podSecurityContext", "additional properties 'hostNetwork' not allowed"),
]


@pytest.mark.parametrize(("values", "where", "why"), BAD_VALUES, ids=[w or "root" for _, w, _ in BAD_VALUES])
def test_schema_rejects_bad_values_readably(chart, values: dict[str, Any], where: str, why: str) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.render(values, name="cco", namespace=RELEASE_NAMESPACE)
    message = str(raised.value)
    # Helm names the value's path and the broken constraint, e.g. "at '/replicas': minimum: got 0, want 1".
    assert f"at '{where}'" in message, message
    assert why in message, message


# --- restricted Pod Security Standard -------------------------------------------------------
# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted, v1.25+),
# checked field by field on the rendered pod template.

ALLOWED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}


def assert_restricted(pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    pod_sc = spec.get("securityContext", {})
    # Baseline: no host namespaces, host paths, host ports, privileged containers, sysctls.
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(field, False), field
    assert "sysctls" not in pod_sc
    for volume in spec.get("volumes", []):
        kinds_ = set(volume) - {"name"}
        assert kinds_ <= ALLOWED_VOLUME_TYPES, volume
    # Restricted: non-root at pod level (or every container), seccomp, no escalation, drop ALL.
    assert pod_sc.get("runAsNonRoot") is True
    assert pod_sc.get("runAsUser", 1) != 0
    assert pod_sc.get("seccompProfile", {}).get("type") in {"RuntimeDefault", "Localhost"}
    for c in spec["containers"] + spec.get("initContainers", []) + spec.get("ephemeralContainers", []):
        sc = c.get("securityContext", {})
        assert sc.get("privileged", False) is False, c["name"]
        assert sc.get("allowPrivilegeEscalation") is False, c["name"]
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, c["name"]
        assert sc.get("runAsUser", pod_sc.get("runAsUser", 1)) != 0, c["name"]
        assert "ALL" in sc.get("capabilities", {}).get("drop", []), c["name"]
        assert set(sc.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}, c["name"]
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        assert seccomp.get("type") in {"RuntimeDefault", "Localhost"}, c["name"]
        assert sc.get("procMount", "Default") == "Default", c["name"]
        assert "windowsOptions" not in sc or not sc["windowsOptions"].get("hostProcess"), c["name"]
        for port in c.get("ports", []):
            assert "hostPort" not in port or port["hostPort"] == 0, c["name"]
        apparmor = sc.get("appArmorProfile", {}).get("type", "RuntimeDefault")
        assert apparmor in {"RuntimeDefault", "Localhost"}, c["name"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pod_meets_the_restricted_pod_security_standard(chart, variant: str) -> None:
    pod = one(render(chart, VARIANTS[variant]), "Deployment")["spec"]["template"]
    assert_restricted(pod)
    c = pod["spec"]["containers"][0]
    assert pod["spec"]["securityContext"]["runAsUser"] == 65532  # the images' non-root user
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize(
    "weaken",
    [
        lambda p: p["spec"]["securityContext"].pop("runAsNonRoot"),
        lambda p: p["spec"]["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        lambda p: p["spec"]["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
        lambda p: p["spec"]["containers"][0]["securityContext"]["capabilities"].update(drop=[]),
        lambda p: p["spec"]["containers"][0]["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        lambda p: p["spec"].update(hostNetwork=True),
        lambda p: p["spec"].update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
        lambda p: p["spec"]["containers"][0]["ports"][0].update(hostPort=8080),
        lambda p: p["spec"]["containers"][0]["securityContext"].update(privileged=True),
    ],
)
def test_restricted_check_catches_weakened_pods(chart, weaken) -> None:
    pod = one(render(chart, {}), "Deployment")["spec"]["template"]
    weaken(pod)
    with pytest.raises(AssertionError):
        assert_restricted(pod)


# --- RBAC: exactly operator/rbac.json ---------------------------------------------------------


def bound_grants(objects: list[dict[str, Any]], service_account: str) -> dict[tuple[str, str | None], set]:
    """What the ServiceAccount may do, keyed by (role kind, namespace the grant applies in).

    The operator's roles only: the user roles (test_user_roles.py) are bound to nobody."""
    objects = operator_rbac(objects)
    roles = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")): o for o in objects
             if o["kind"] in {"Role", "ClusterRole"}}
    out: dict[tuple[str, str | None], set] = {}
    for binding in objects:
        if binding["kind"] not in {"RoleBinding", "ClusterRoleBinding"}:
            continue
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": service_account, "namespace": RELEASE_NAMESPACE}
        ]
        ref = binding["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io"
        namespace = binding["metadata"].get("namespace")
        role_namespace = None if ref["kind"] == "ClusterRole" else namespace
        role = roles[(ref["kind"], ref["name"], role_namespace)]
        scope = (ref["kind"] if binding["kind"] == "ClusterRoleBinding" else "Role", namespace)
        out.setdefault(scope, set()).update(grants(role["rules"]))
    # Every Role and ClusterRole is bound, so nothing is rendered for nothing.
    bound = {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in objects if b["kind"].endswith("Binding")}
    assert {(k, n) for (k, n, _) in roles} == bound
    return out


LEASES = ("coordination.k8s.io", "leases")


def test_rbac_contract_is_what_the_operator_needs() -> None:
    contract = grants(rbac_contract())
    assert not any(resource == "secrets" for _, resource, _ in contract)
    assert any((g, r) == LEASES for g, r, _ in contract)


@pytest.mark.parametrize(
    ("variant", "watch_scope"),
    [
        ("default", ("ClusterRole", None)),
        ("namespace-scoped", ("Role", "telegram")),
        ("namespace-scoped-release-namespace", ("Role", RELEASE_NAMESPACE)),
    ],
)
def test_rendered_rbac_grants_exactly_the_contract(chart, variant: str, watch_scope) -> None:
    objects = render(chart, VARIANTS[variant])
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    by_scope = bound_grants(objects, sa)
    contract = grants(rbac_contract())
    leases = {g for g in contract if g[:2] == LEASES}
    # Leases only in the release namespace; everything else where collections are watched.
    lease_scope = ("Role", RELEASE_NAMESPACE)
    if watch_scope == lease_scope:
        assert by_scope == {lease_scope: contract}
    else:
        assert by_scope == {watch_scope: contract - leases, lease_scope: leases}
    everything = set().union(*by_scope.values())
    assert everything == contract, f"extra: {everything - contract}, missing: {contract - everything}"
    assert not any(resource == "secrets" for _, resource, _ in everything)


def test_rbac_can_be_left_to_the_admin(chart) -> None:
    objects = render(chart, {"rbac": {"create": False}})
    assert not [o for o in objects if o["kind"] in {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}]


# --- the CRD --------------------------------------------------------------------------------


def test_chart_crd_is_the_generated_crd(chart) -> None:
    generated = (ROOT / "crds" / "channelcollection.yaml").read_text()
    assert (CHART / "crds" / "channelcollection.yaml").read_text() == generated
    (crd,) = chart.crds
    assert crd["filename"].endswith("crds/channelcollection.yaml")
    assert yaml.safe_load(crd["data"]) == yaml.safe_load(generated)


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_chart_crd_validates(kube_version: str) -> None:
    crd = yaml.safe_load((CHART / "crds" / "channelcollection.yaml").read_text())
    assert crd["kind"] == "CustomResourceDefinition"
    kubernetes_validate.validate(crd, kube_version, strict=True)


def test_crds_are_not_templated(chart) -> None:
    # Helm installs crds/ once and never upgrades or deletes it (see docs/install.md).
    assert not of_kind(render(chart, {}), "CustomResourceDefinition")
