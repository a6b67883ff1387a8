"""The Kubernetes manifests (k8s/): the base and each overlay render with kustomize, every
resource is valid for the Kubernetes version we target, and what must agree does agree: peers
and replicas, ports and probes, volumes and recovery settings, secrets, alerts and metrics,
the workbench's settings, network reach and dashboards.
The pods' entrypoint, run-flow.sh, runs here too: with `omni` stood in for, and on real Bytewax
recovery across two processes.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from kubernetes_validate import utils as kubernetes_schemas  # type: ignore[import-untyped]

from omnichannel.dashboards import DASHBOARDS
from omnichannel.recovery import FLOWS
from omnichannel.reference import DEFAULT_REFERENCE_FILE, load_reference
from omnichannel.workbench.operations import check_metrics_url
from omnichannel.workbench.settings import WorkbenchSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
RUN_FLOW = K8S / "base" / "run-flow.sh"
KUBERNETES_VERSION = "1.31"
VARIANTS = ("base", "overlays/dev", "overlays/peak")
PEAK_RECOVERY_PARTITIONS = 24
ALERTED_METRICS = {
    "omni_broker_unreachable_seconds",
    "omni_consumer_lag_records",
    "omni_order_aging_seconds_bucket",
    "omni_postings_failed_total",
    "omni_reconciliation_gap",
    "omni_reconciliation_backlog_windows",
}
KAFKA_SETTINGS = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CA_LOCATION",
)
CUSTOM_GROUP = "monitoring.coreos.com/"
WORKBENCH = "omni-workbench"
PROXY_NAMESPACE = "ingress-nginx"
# What the Secrets hold in a cluster, for the keys a pod cannot start without.
SECRET_STAND_INS = {
    ("omni-kafka", "bootstrap-servers"): "kafka-0.kafka:9092",
    ("omni-workbench", "secret"): "s" * 64,
}

Resource = dict[str, Any]


def output_of(command: list[str]) -> str:
    ran = subprocess.run(command, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, f"{' '.join(command)}: {ran.stderr}"
    return ran.stdout


@pytest.fixture(scope="session")
def manifests() -> dict[str, list[Resource]]:
    """Every variant, rendered once by the kustomize that scripts/ensure-kustomize.sh finds."""
    render = output_of([str(ROOT / "scripts" / "ensure-kustomize.sh")]).split()
    return {
        variant: [r for r in yaml.safe_load_all(output_of([*render, str(K8S / variant)])) if r]
        for variant in VARIANTS
    }


@pytest.fixture(params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def resources(manifests: dict[str, list[Resource]], variant: str) -> list[Resource]:
    return manifests[variant]


def named(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def flow_set(resources: list[Resource], flow: str) -> Resource:
    return named(resources, "StatefulSet")[f"omni-{flow}"]


def container(statefulset: Resource) -> Resource:
    (only,) = statefulset["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def env(statefulset: Resource) -> dict[str, Resource]:
    return {variable["name"]: variable for variable in container(statefulset)["env"]}


def mounted(statefulset: Resource, path: str) -> Resource:
    """The pod volume (or claim template) mounted at `path`."""
    (name,) = (m["name"] for m in container(statefulset)["volumeMounts"] if m["mountPath"] == path)
    spec = statefulset["spec"]
    templates = spec.get("volumeClaimTemplates", [])  # a Deployment has none
    claims = [{"name": c["metadata"]["name"], "claim": c} for c in templates]
    (volume,) = (v for v in [*spec["template"]["spec"]["volumes"], *claims] if v["name"] == name)
    return volume  # type: ignore[no-any-return]


def pod_labels(statefulset: Resource) -> dict[str, str]:
    return statefulset["spec"]["template"]["metadata"]["labels"]  # type: ignore[no-any-return]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector picks pods with these labels (the manifests use matchLabels)."""
    assert "matchExpressions" not in selector
    wanted: Mapping[str, str] = selector.get("matchLabels", {})
    return wanted.items() <= labels.items()


def recovery_settings(resources: list[Resource], statefulset: Resource) -> dict[str, str]:
    configmaps = named(resources, "ConfigMap")
    settings: dict[str, str] = {}
    for source in container(statefulset).get("envFrom", []):
        settings |= configmaps[source["configMapRef"]["name"]]["data"]
    return settings


def size(statefulset: Resource) -> tuple[int, int, list[str]]:
    """Replicas, workers per process and peer addresses, from the container's arguments."""
    flow, workers, addresses = container(statefulset)["args"]
    assert flow == statefulset["metadata"]["name"].removeprefix("omni-")
    return statefulset["spec"]["replicas"], int(workers), addresses.split(";")


def test_resources_are_valid_for_kubernetes(resources: list[Resource]) -> None:
    invalid = []
    for resource in resources:
        if resource["apiVersion"].startswith(CUSTOM_GROUP):
            continue
        try:
            kubernetes_schemas.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_schemas.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            invalid.append(f"{resource['kind']}/{resource['metadata']['name']} {path}: {error}")
    assert not invalid, "\n".join(invalid)


def test_strict_validation_refuses_a_misspelt_field(resources: list[Resource]) -> None:
    statefulset = flow_set(resources, "availability")
    misspelt = {**statefulset, "spec": {**statefulset["spec"], "replica": 2}}
    with pytest.raises(kubernetes_schemas.ValidationError, match="replica"):
        kubernetes_schemas.validate(misspelt, KUBERNETES_VERSION, strict=True)


def test_custom_resources_are_valid_for_their_crds(resources: list[Resource]) -> None:
    custom = [r for r in resources if r["apiVersion"].startswith(CUSTOM_GROUP)]
    assert sorted(r["kind"] for r in custom) == ["PodMonitor", "PrometheusRule"]
    try:
        for resource in custom:
            kubernetes_schemas.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_schemas.SchemaNotFoundError as missing:
        pytest.skip(
            f"{missing.message}: kubernetes-validate ships the built-in kinds only and no CRD "
            "schema is available offline; promtool checks the PrometheusRule's groups instead"
        )


@pytest.mark.parametrize("flow", FLOWS)
def test_each_flow_runs_restricted(resources: list[Resource], flow: str) -> None:
    statefulset = flow_set(resources, flow)
    pod = statefulset["spec"]["template"]["spec"]
    security = container(statefulset)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    assert "emptyDir" in mounted(statefulset, "/tmp")
    resources_ = container(statefulset)["resources"]
    assert set(resources_["requests"]) == set(resources_["limits"]) == {"cpu", "memory"}


@pytest.mark.parametrize("flow", FLOWS)
def test_peers_are_one_address_per_replica(resources: list[Resource], flow: str) -> None:
    statefulset = flow_set(resources, flow)
    replicas, _, addresses = size(statefulset)
    service = named(resources, "Service")[statefulset["spec"]["serviceName"]]
    (port,) = (p for p in container(statefulset)["ports"] if p["name"] == "bytewax")
    name, domain = statefulset["metadata"]["name"], service["metadata"]["name"]
    assert addresses == [
        f"{name}-{n}.{domain}.$(POD_NAMESPACE).svc.cluster.local:{port['containerPort']}"
        for n in range(replicas)
    ]
    for variable, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        assert env(statefulset)[variable]["valueFrom"]["fieldRef"] == {"fieldPath": field}
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(statefulset))
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"


@pytest.mark.parametrize("flow", FLOWS)
def test_recovery_partitions_live_on_the_pods_volume(resources: list[Resource], flow: str) -> None:
    statefulset = flow_set(resources, flow)
    replicas, workers, _ = size(statefulset)
    assert "claim" in mounted(statefulset, env(statefulset)["RECOVERY_DIR"]["value"])
    settings = recovery_settings(resources, statefulset)
    assert {"SNAPSHOT_INTERVAL_S", "BACKUP_INTERVAL_S"} <= settings.keys()
    assert int(settings["RECOVERY_PARTITIONS"]) >= replicas * workers


@pytest.mark.parametrize("flow", FLOWS)
def test_credentials_are_referenced_from_secrets(resources: list[Resource], flow: str) -> None:
    assert not named(resources, "Secret")
    variables = env(flow_set(resources, flow))
    credentials = [*KAFKA_SETTINGS, *(["REDIS_URL"] if flow == "availability" else [])]
    for name in credentials:
        assert "value" not in variables[name], name
        assert "secretKeyRef" in variables[name]["valueFrom"], name
    assert ("REDIS_URL" in variables) == (flow == "availability")


@pytest.mark.parametrize("flow", FLOWS)
def test_reference_data_is_mounted_and_loads(
    resources: list[Resource], flow: str, tmp_path: Path
) -> None:
    statefulset = flow_set(resources, flow)
    path = Path(env(statefulset)["REFERENCE_DATA"]["value"])
    source = mounted(statefulset, str(path.parent))["configMap"]["name"]
    configmap = named(resources, "ConfigMap")[source]
    copy = tmp_path / path.name
    copy.write_text(configmap["data"][path.name], encoding="utf-8")
    assert load_reference(copy).all_skus


def test_base_reference_data_is_the_bundled_file() -> None:
    assert (K8S / "base" / "reference.toml").read_bytes() == DEFAULT_REFERENCE_FILE.read_bytes()


@pytest.mark.parametrize("flow", FLOWS)
def test_probes_ask_the_metrics_endpoint(resources: list[Resource], flow: str) -> None:
    statefulset = flow_set(resources, flow)
    flow_container = container(statefulset)
    ports = {port["name"]: port["containerPort"] for port in flow_container["ports"]}
    assert int(env(statefulset)["METRICS_PORT"]["value"]) == ports["metrics"]
    for probe in ("startupProbe", "livenessProbe"):
        assert flow_container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert "readinessProbe" not in flow_container


def test_disruption_budgets_fit_each_size(resources: list[Resource], variant: str) -> None:
    budgets = named(resources, "PodDisruptionBudget")
    for flow in FLOWS:
        statefulset = flow_set(resources, flow)
        budget = budgets[statefulset["metadata"]["name"]]["spec"]
        assert selects(budget["selector"], pod_labels(statefulset))
        replicas = statefulset["spec"]["replicas"]
        expected = {"base": replicas - 1, "overlays/dev": 0, "overlays/peak": replicas}[variant]
        assert budget["minAvailable"] == expected, flow


def allowed(policies: list[Resource], labels: dict[str, str], direction: str) -> list[Resource]:
    """The ingress or egress rules of every policy that applies to pods with these labels."""
    return [
        rule
        for policy in policies
        if selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get(direction, [])
    ]


def ports_of(rules: list[Resource]) -> set[int | str]:
    return {port["port"] for rule in rules for port in rule.get("ports", [])}


def with_pods(rules: list[Resource], peers: str, labels: dict[str, str]) -> list[Resource]:
    """The rules whose `from` or `to` (`peers`) names pods of this namespace with these labels."""
    return [
        rule
        for rule in rules
        for peer in rule.get(peers, [])
        if "namespaceSelector" not in peer and selects(peer["podSelector"], labels)
    ]


@pytest.mark.parametrize("flow", FLOWS)
def test_network_policy_admits_peers_and_scrapes(resources: list[Resource], flow: str) -> None:
    policies = list(named(resources, "NetworkPolicy").values())
    labels = pod_labels(flow_set(resources, flow))
    ingress, egress = allowed(policies, labels, "ingress"), allowed(policies, labels, "egress")
    from_peers, to_peers = with_pods(ingress, "from", labels), with_pods(egress, "to", labels)
    assert ports_of(from_peers) == ports_of(to_peers) == {"bytewax"}
    assert "metrics" in ports_of(ingress)
    assert {53, 9092} <= ports_of(egress)
    assert (6379 in ports_of(egress)) == (flow == "availability")


def test_pod_monitor_scrapes_every_flow(resources: list[Resource]) -> None:
    (monitor,) = named(resources, "PodMonitor").values()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    for flow in FLOWS:
        statefulset = flow_set(resources, flow)
        assert selects(monitor["spec"]["selector"], pod_labels(statefulset))
        assert endpoint["port"] in {port["name"] for port in container(statefulset)["ports"]}


def rule_groups(resources: list[Resource]) -> list[Resource]:
    (rule,) = named(resources, "PrometheusRule").values()
    return rule["spec"]["groups"]  # type: ignore[no-any-return]


def test_alerts_name_the_flows_metrics(resources: list[Resource]) -> None:
    expressions = [rule["expr"] for group in rule_groups(resources) for rule in group["rules"]]
    named_metrics = {m for e in expressions for m in re.findall(r"\bomni_[a-z_]+", e)}
    assert named_metrics == ALERTED_METRICS


def test_alert_rules_pass_promtool(resources: list[Resource], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(resources)}), encoding="utf-8")
    shutil.copy(K8S / "base" / "monitoring" / "alerts.test.yaml", tmp_path)
    for command in (["check", "rules", rules.name], ["test", "rules", "alerts.test.yaml"]):
        checked = subprocess.run(
            [promtool, *command], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_overlays_size_the_flows(manifests: dict[str, list[Resource]]) -> None:
    peak_workers = []
    for flow in FLOWS:
        base, dev, peak = (flow_set(manifests[v], flow) for v in VARIANTS)
        assert size(dev)[:2] == (1, 1)
        (replicas, workers, _), (base_replicas, base_workers, _) = size(peak), size(base)
        assert replicas > base_replicas
        assert workers >= base_workers
        peak_workers.append(replicas * workers)
        peak_resources = container(peak)["resources"]
        assert peak_resources["requests"] == peak_resources["limits"], "Guaranteed QoS at peak"
        settings = recovery_settings(manifests["overlays/peak"], peak)
        assert int(settings["RECOVERY_PARTITIONS"]) == PEAK_RECOVERY_PARTITIONS
    # Room for the largest flow to double its workers without new partitions.
    assert 2 * max(peak_workers) == PEAK_RECOVERY_PARTITIONS


def test_image_runs_as_the_pods_user(manifests: dict[str, list[Resource]]) -> None:
    (user,) = re.findall(r"^USER (\S+)$", (ROOT / "Containerfile").read_text(), re.MULTILINE)
    uid, gid = (int(part) for part in user.split(":"))
    for flow in FLOWS:
        pod = flow_set(manifests["base"], flow)["spec"]["template"]["spec"]
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
            uid,
            gid,
        )


def workbench(resources: list[Resource]) -> Resource:
    return named(resources, "Deployment")[WORKBENCH]


def test_workbench_runs_restricted(resources: list[Resource]) -> None:
    deployment = workbench(resources)
    pod = deployment["spec"]["template"]["spec"]
    security = container(deployment)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (user,) = re.findall(r"^USER (\S+)$", (ROOT / "Containerfile").read_text(), re.MULTILINE)
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == user
    assert pod["automountServiceAccountToken"] is False
    account = named(resources, "ServiceAccount")[pod["serviceAccountName"]]
    assert account["automountServiceAccountToken"] is False
    assert "emptyDir" in mounted(deployment, "/tmp")
    resources_ = container(deployment)["resources"]
    assert set(resources_["requests"]) == set(resources_["limits"]) == {"cpu", "memory"}
    assert deployment["spec"]["replicas"] == 1
    assert selects(deployment["spec"]["selector"], pod_labels(deployment))


def test_workbench_probes_and_service(resources: list[Resource]) -> None:
    deployment = workbench(resources)
    served = container(deployment)
    variables = env(deployment)
    assert {port["name"]: port["containerPort"] for port in served["ports"]} == {"http": 8088}
    assert int(variables["WORKBENCH_PORT"]["value"]) == 8088
    assert variables["WORKBENCH_HOST"]["value"] == "0.0.0.0"
    assert served["command"] == ["omni", "workbench"]
    assert served["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert served["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = named(resources, "Service")[WORKBENCH]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(deployment))
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"


def test_workbench_settings_pass_its_own_checks(resources: list[Resource], tmp_path: Path) -> None:
    """The environment Kubernetes gives the container, as `omni workbench` checks it at start:
    literal values, the Secrets' required keys (stood in for), the reference data as mounted."""
    deployment = workbench(resources)
    environment: dict[str, str] = {}
    for name, variable in env(deployment).items():
        if "value" in variable:
            environment[name] = variable["value"]
            continue
        secret = variable["valueFrom"]["secretKeyRef"]
        if not secret.get("optional", False):
            environment[name] = SECRET_STAND_INS[secret["name"], secret["key"]]
    for name in (*KAFKA_SETTINGS, "WORKBENCH_SECRET"):
        assert "secretKeyRef" in env(deployment)[name]["valueFrom"], name
    path = Path(environment["REFERENCE_DATA"])
    source = mounted(deployment, str(path.parent))["configMap"]["name"]
    copy = tmp_path / path.name
    copy.write_text(named(resources, "ConfigMap")[source]["data"][path.name], encoding="utf-8")
    assert load_reference(copy).all_skus
    environment["REFERENCE_DATA"] = str(copy)

    settings = WorkbenchSettings.from_env(environment)
    assert settings.trust_proxy_headers is True
    assert (settings.user_header, settings.groups_header) == (
        "X-Forwarded-User",
        "X-Forwarded-Groups",
    )
    assert settings.operator_groups == {"finance-ops"}
    assert settings.viewer_groups == {"finance", "support"}
    assert not settings.tokens, "no static tokens behind the proxy"


def test_workbench_scrapes_every_process_of_every_flow(resources: list[Resource]) -> None:
    urls = env(workbench(resources))["WORKBENCH_METRICS_URLS"]["value"].split(",")
    expected = []
    for flow in FLOWS:
        statefulset = flow_set(resources, flow)
        service = named(resources, "Service")[statefulset["spec"]["serviceName"]]
        # Headless: its name resolves to every process, and dns+ scrapes each of them.
        assert service["spec"]["clusterIP"] == "None"
        (port,) = (p for p in container(statefulset)["ports"] if p["name"] == "metrics")
        expected.append(f"dns+http://{service['metadata']['name']}:{port['containerPort']}/metrics")
    assert urls == expected
    for url in urls:
        check_metrics_url(url)


def test_workbench_network_policy(resources: list[Resource]) -> None:
    policies = list(named(resources, "NetworkPolicy").values())
    deployment = workbench(resources)
    labels = pod_labels(deployment)
    ports = {p["name"] for p in container(deployment)["ports"]}
    ports |= {p["containerPort"] for p in container(deployment)["ports"]}
    # In: only the ingress controller's namespace, on the HTTP port (rules of the flows'
    # policies that select every pod of the project name ports the workbench does not have).
    reaching = [r for r in allowed(policies, labels, "ingress") if ports_of([r]) & ports]
    assert reaching == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": PROXY_NAMESPACE}
                    }
                }
            ],
            "ports": [{"port": "http", "protocol": "TCP"}],
        }
    ]
    egress = allowed(policies, labels, "egress")
    assert {53, 9092} <= ports_of(egress)
    for flow in FLOWS:
        statefulset = flow_set(resources, flow)
        flow_labels = pod_labels(statefulset)
        (metrics_port,) = (p for p in container(statefulset)["ports"] if p["name"] == "metrics")
        # Out to the flow's metrics port, and the flow lets it in there.
        assert metrics_port["containerPort"] in ports_of(with_pods(egress, "to", flow_labels))
        admitted = with_pods(allowed(policies, flow_labels, "ingress"), "from", labels)
        assert ports_of(admitted) == {"metrics"}, flow


def test_dashboards_are_provisioned_for_grafana(resources: list[Resource]) -> None:
    configmaps = named(resources, "ConfigMap").values()
    (provisioned,) = (
        c for c in configmaps if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    )
    assert provisioned["metadata"]["name"] == "omni-grafana-dashboards"  # no hash suffix
    assert provisioned["data"] == {d.file_name: d.json() for d in DASHBOARDS}


ECHO_OMNI = '#!/bin/sh\necho omni "$@"\n'
# `omni run FLOW -w W -i ID -a ADDRESSES` with a small counting flow in the place of FLOW, on
# real Bytewax recovery: every item counts once per key, and the count is the state to keep.
COUNTING_OMNI = """#!/bin/sh
shift 2
exec python -m bytewax.run counting:flow -r "$RECOVERY_DIR" -s 1 -b 0 "$@"
"""
COUNTING_FLOW = """
import os
import bytewax.operators as op
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource

flow = Dataflow("counting")
items = [f"k{i % 3}" for i in range(int(os.environ["ITEMS"]))]
keys = op.input("items", flow, TestingSource(items))
counts = op.stateful_map("count", op.key_on("key", keys, str), lambda n, _: ((n or 0) + 1,) * 2)
op.output("out", counts, StdOutSink())
"""


def start_flow(
    tmp_path: Path,
    pod: str,
    addresses: str,
    *,
    workers: int = 2,
    partitions: int = 8,
    omni: str = ECHO_OMNI,
    **settings: str,
) -> subprocess.Popen[str]:
    """run-flow.sh as pod `pod` starts it, on volume-<ordinal>, with `omni` standing in."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "omni").write_text(omni, encoding="utf-8")
    (fake / "omni").chmod(0o755)
    volume = tmp_path / f"volume-{pod.rsplit('-', 1)[1]}"
    volume.mkdir(exist_ok=True)
    environment = {
        "PATH": f"{fake}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "POD_NAME": pod,
        "RECOVERY_DIR": str(volume),
        "RECOVERY_PARTITIONS": str(partitions),
        **settings,
    }
    return subprocess.Popen(
        ["/bin/sh", RUN_FLOW, "finance", str(workers), addresses],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_flow(
    tmp_path: Path, pod: str, addresses: str, partitions: int = 8
) -> subprocess.CompletedProcess[str]:
    with start_flow(tmp_path, pod, addresses, partitions=partitions) as process:
        stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def partitions_on(volume: Path) -> set[int]:
    return {int(path.stem.removeprefix("part-")) for path in volume.glob("part-*.sqlite3")}


def test_entrypoint_gives_each_process_its_share_of_partitions(tmp_path: Path) -> None:
    addresses = "a:2101;b:2101;c:2101"
    for ordinal in range(3):
        started = run_flow(tmp_path, f"omni-finance-{ordinal}", addresses)
        assert started.returncode == 0, started.stderr
        assert started.stdout == f"omni run finance -w 2 -i {ordinal} -a {addresses}\n"
    shares = [partitions_on(tmp_path / f"volume-{ordinal}") for ordinal in range(3)]
    assert shares == [{0, 3, 6}, {1, 4, 7}, {2, 5}]

    volume = tmp_path / "volume-1"
    before = {path.name: path.stat().st_mtime_ns for path in volume.iterdir()}
    again = run_flow(tmp_path, "omni-finance-1", addresses)
    assert again.returncode == 0, again.stderr
    assert {path.name: path.stat().st_mtime_ns for path in volume.iterdir()} == before


@pytest.mark.parametrize(
    ("pod", "addresses", "partitions", "refusal"),
    [
        ("omni-finance-0", "a:1;b:1", 8, "laid out for processes=3, now processes=2"),
        ("omni-finance-3", "a:1;b:1;c:1", 8, "is process 3, but ADDRESSES names only 3"),
        ("omni-finance-0", "a:1;b:1;c:1;d:1", 3, "RECOVERY_PARTITIONS=3 leaves some"),
    ],
)
def test_entrypoint_refuses_a_layout_it_cannot_keep(
    tmp_path: Path, pod: str, addresses: str, partitions: int, refusal: str
) -> None:
    assert run_flow(tmp_path, "omni-finance-0", "a:1;b:1;c:1").returncode == 0
    refused = run_flow(tmp_path, pod, addresses, partitions)
    assert refused.returncode != 0
    assert refusal in refused.stderr
    assert refused.stdout == ""


def test_entrypoint_will_not_guess_whose_partitions_these_are(tmp_path: Path) -> None:
    assert run_flow(tmp_path, "omni-finance-0", "a:1").returncode == 0
    (tmp_path / "volume-0" / "layout").unlink()
    refused = run_flow(tmp_path, "omni-finance-0", "a:1")
    assert "holds partitions but no record of their layout" in refused.stderr
    assert partitions_on(tmp_path / "volume-0") == set(range(8))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_shares_resume_every_key_after_the_workers_double(tmp_path: Path) -> None:
    """Two processes on real Bytewax, each holding only its share of the partitions, stop and
    resume with twice the workers: every key's count goes on from where it was. (With a full
    set of partitions on each volume, the same resume silently starts over from the first item,
    or keeps some keys' input offsets and loses their state.)"""
    (tmp_path / "counting.py").write_text(COUNTING_FLOW, encoding="utf-8")
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"

    def count(items: int, workers: int) -> list[str]:
        with ExitStack() as running:
            processes = [
                running.enter_context(
                    start_flow(
                        tmp_path,
                        f"omni-finance-{ordinal}",
                        addresses,
                        workers=workers,
                        partitions=4,
                        omni=COUNTING_OMNI,
                        ITEMS=str(items),
                        PYTHONPATH=str(tmp_path),
                    )
                )
                for ordinal in range(2)
            ]
            for process in processes:
                running.callback(process.kill)
            outputs = [process.communicate(timeout=60) for process in processes]
        assert [process.returncode for process in processes] == [0, 0], outputs
        # Timely also prints to stdout, while a process waits for its peers to listen.
        lines = (line for stdout, _ in outputs for line in stdout.splitlines())
        return sorted(line for line in lines if line.startswith("('k"))

    assert count(items=9, workers=1) == [f"('k{k}', {n})" for k in range(3) for n in (1, 2, 3)]
    assert count(items=18, workers=2) == [f"('k{k}', {n})" for k in range(3) for n in (4, 5, 6)]
