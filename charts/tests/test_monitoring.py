"""Monitoring: the operator's exposition (a real scrape, fixtures/metrics.txt, kept current by
operator/tests/metrics_scrape.rs), the Grafana dashboard and the PrometheusRule, checked with
Prometheus' own parsers and tools: prometheus-client's OpenMetrics parser, promtool's metrics
linter, promql-parser for every expression, `promtool check rules` and `promtool test rules`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from conftest import CHART, RELEASE_NAMESPACE, ROOT, VARIANTS, of_kind, one, render

FIXTURE = ROOT / "charts" / "tests" / "fixtures" / "metrics.txt"
DASHBOARD = CHART / "dashboards" / "channel-collections.json"
ALERT_TESTS = ROOT / "charts" / "tests" / "alerts" / "rules_test.yaml"
DOC = ROOT / "docs" / "monitoring.md"
CRD = ROOT / "crds" / "channelcollection.yaml"

# Series Prometheus makes itself for every target.
PROMETHEUS_SERIES = {"up"}
# Grafana's built-in variables, as Grafana fills them in before sending a query.
GRAFANA_BUILTINS = {"$__rate_interval": "2m", "$__interval": "30s", "$__range": "24h"}
# The labels per-collection series may have: the collection, and one enumeration.
COLLECTION_LABELS = {"namespace", "collection"}
ENUMERATIONS = {"channelcollection_status_state": "state", "channelcollection_status_last_run_result": "result",
                "channelcollection_runs_finished": "result", "channelcollection_media_files": "outcome",
                "channelcollection_media_bytes": "outcome"}


# --- the exposition -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def families() -> list[Any]:
    # The OpenMetrics parser is strict: a malformed line, a missing # EOF, a counter sample
    # without _total all raise.
    return list(text_string_to_metric_families(FIXTURE.read_text()))


@pytest.fixture(scope="module")
def exported(families) -> set[str]:
    """Every series name the operator exports (what PromQL can select)."""
    return {sample.name for family in families for sample in family.samples}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: ./scripts/test installs it (apt-get install prometheus)"
    return path


def test_exposition_parses_and_every_family_has_help(families) -> None:
    names = [f.name for f in families]
    assert len(names) == len(set(names))
    for family in families:
        assert family.documentation, f"{family.name} has no HELP"
        assert family.samples, f"{family.name} has no sample in the scrape"
    assert {"channel_collection_operator_ready", "channel_collection_operator_leader"} <= set(names)


def test_exposition_passes_promtools_metric_lint(families, tmp_path: Path) -> None:
    # promtool lints the Prometheus text format: re-expose the parsed families in it.
    class Parsed:
        def collect(self):
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Parsed())
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=generate_latest(registry), capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_per_collection_series_are_labelled_by_namespace_and_collection_only(families) -> None:
    per_collection = [f for f in families if f.name.startswith("channelcollection_")]
    assert len(per_collection) >= 18
    for family in per_collection:
        allowed = COLLECTION_LABELS | ({ENUMERATIONS[family.name]} if family.name in ENUMERATIONS else set())
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= allowed and COLLECTION_LABELS <= set(sample.labels), (
                family.name, sample.labels)
        # kube-state-metrics naming: <kind>_<spec|status>_<field>, or a counter.
        assert re.fullmatch(r"channelcollection_(created|spec_\w+|status_\w+)", family.name) or (
            family.type == "counter"), family.name
        if family.name.endswith("_time"):
            assert family.type == "gauge", family.name


def crd_states() -> list[str]:
    """The values the CRD allows for `status.state`."""
    crd = yaml.safe_load(CRD.read_text())
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    return status["properties"]["state"]["enum"]


def test_enumerations_have_one_series_per_value(families) -> None:
    state = next(f for f in families if f.name == "channelcollection_status_state")
    for collection in {s.labels["collection"] for s in state.samples}:
        values = {s.labels["state"]: s.value for s in state.samples if s.labels["collection"] == collection}
        assert set(values) == set(crd_states())
        assert sum(values.values()) <= 1


# --- PromQL helpers -------------------------------------------------------------------------


def selectors(expr: str) -> list[Any]:
    """Every vector selector of `expr` (raises ValueError when it does not parse)."""
    found: list[Any] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def metric_names(expr: str) -> set[str]:
    names = set()
    for selector in selectors(expr):
        named = selector.name or next(
            (m.value for m in selector.matchers.matchers if m.name == "__name__"), None
        )
        assert named, f"a selector without a metric name in {expr}"
        names.add(named)
    return names


def matchers(selector: Any) -> dict[str, tuple[str, str]]:
    return {m.name: (str(m.op), m.value) for m in selector.matchers.matchers}


def test_metric_name_extraction_can_fail() -> None:
    # The helpers the checks below rely on really look inside expressions.
    assert metric_names("sum by (a) (rate(x_total[5m])) / on (a) y > 2 and absent(up == 1)") == {"x_total", "y", "up"}
    with pytest.raises(ValueError):
        selectors("sum(rate(x_total[$__rate_interval]))")


# --- the dashboard --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows
    return [p for p in out if p["type"] != "row"]


def interpolate(expr: str, values: dict[str, str]) -> str:
    """What Grafana sends for `expr` with the variables set to `values`."""
    for name, value in {**GRAFANA_BUILTINS, **values}.items():
        expr = expr.replace(name if name.startswith("$__") else f"${name}", value)
    assert "$" not in expr, f"unknown variable in {expr}"
    return expr


ALL = {"namespace": ".*", "collection": ".*"}


def test_dashboard_has_panels_with_titles_and_descriptions(dashboard) -> None:
    assert dashboard["uid"] == "channel-collections"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels(dashboard):
        assert panel["title"] and panel.get("description"), panel["id"]
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_panel_query_parses_and_uses_only_exported_metrics(dashboard, exported) -> None:
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = interpolate(target["expr"], ALL)
            unknown = metric_names(expr) - exported
            assert not unknown, f"panel {panel['title']!r} uses metrics the operator does not export: {unknown}"


def test_every_collection_selector_follows_the_variables(dashboard) -> None:
    for panel in panels(dashboard):
        for target in panel["targets"]:
            for selector in selectors(interpolate(target["expr"], ALL)):
                if not selector.name.startswith("channelcollection_"):
                    continue  # the operator's own metrics are not per collection
                m = matchers(selector)
                assert m.get("namespace") == ("MatchOp.Re", ".*"), (panel["title"], target["expr"])
                assert m.get("collection") == ("MatchOp.Re", ".*"), (panel["title"], target["expr"])


def test_the_variables_list_namespaces_then_their_collections(dashboard, exported) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name, label in [("namespace", "namespace"), ("collection", "collection")]:
        variable = variables[name]
        assert variable["type"] == "query" and variable["multi"] and variable["includeAll"]
        # The regex matchers take "All" as .* and several values as (a|b).
        assert variable["allValue"] == ".*"
        query = variable["query"]["query"]
        assert query == variable["definition"]
        inner, got_label = re.fullmatch(r"label_values\((.+), (\w+)\)", query).groups()
        assert got_label == label
        assert metric_names(interpolate(inner, ALL)) <= exported
    # Collections are offered for the chosen namespaces only.
    inner = re.fullmatch(r"label_values\((.+), collection\)", variables["collection"]["query"]["query"]).group(1)
    (selector,) = selectors(interpolate(inner, {"namespace": "(telegram|archive)", "collection": ".*"}))
    assert matchers(selector)["namespace"] == ("MatchOp.Re", "(telegram|archive)")


def test_panel_queries_parse_with_several_values_selected(dashboard) -> None:
    chosen = {"namespace": "(telegram|archive)", "collection": "(news|daily)"}
    for panel in panels(dashboard):
        for target in panel["targets"]:
            for selector in selectors(interpolate(target["expr"], chosen)):
                if selector.name.startswith("channelcollection_"):
                    assert matchers(selector)["collection"] == ("MatchOp.Re", "(news|daily)")


def test_the_collections_table_shows_what_kubectl_shows(dashboard) -> None:
    table = next(p for p in panels(dashboard) if p["type"] == "table")
    shown = set(table["transformations"][1]["options"]["renameByName"].values())
    assert {"State", "Progress", "Messages", "Errors", "ETA", "Last success"} <= shown
    progress = next(o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "Progress")
    cell = next(p["value"] for p in progress["properties"] if p["id"] == "custom.cellOptions")
    assert cell["type"] == "gauge", "progress is drawn as a bar"


def test_dashboard_configmap_is_off_by_default_and_labelled_for_the_sidecar(chart) -> None:
    assert not [o for o in of_kind(render(chart, {}), "ConfigMap")]
    objects = render(chart, VARIANTS["monitoring-on"])
    config_map = one(objects, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == RELEASE_NAMESPACE
    (name, text), = config_map["data"].items()
    assert name.endswith(".json")
    assert json.loads(text) == json.loads(DASHBOARD.read_text())
    elsewhere = render(chart, {"metrics": {"dashboard": {"enabled": True, "namespace": "monitoring",
                                                         "annotations": {"grafana_folder": "Telegram"}}}})
    moved = one(elsewhere, "ConfigMap")
    assert moved["metadata"]["namespace"] == "monitoring"
    assert moved["metadata"]["annotations"] == {"grafana_folder": "Telegram"}


# --- the alerts -----------------------------------------------------------------------------


def rule_groups(chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    return one(render(chart, values), "PrometheusRule")["spec"]["groups"]


def alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"]]


def test_prometheus_rule_is_off_by_default(chart) -> None:
    assert of_kind(render(chart, {}), "PrometheusRule") == []


def test_the_issues_alerts_are_all_there(chart) -> None:
    names = {a["alert"] for a in alerts(rule_groups(chart, VARIANTS["monitoring-on"]))}
    assert {
        "ChannelCollectionRunFailed",  # the last run failed
        "ChannelCollectionNoRecentSuccess",  # no success within twice the period
        "ChannelCollectionSessionInvalid",
        "ChannelCollectionOperatorDown",
        "ChannelCollectionOperatorNotReady",
        "ChannelCollectionRunPastEta",
    } <= names


def test_every_alert_uses_only_exported_metrics(chart, exported) -> None:
    for alert in alerts(rule_groups(chart, VARIANTS["monitoring-on"])):
        unknown = metric_names(alert["expr"]) - exported - PROMETHEUS_SERIES
        assert not unknown, f"{alert['alert']} uses metrics the operator does not export: {unknown}"
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]


def write_rules(chart, values: dict[str, Any], into: Path) -> Path:
    rules = into / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(chart, values)}))
    return rules


def test_promtool_checks_the_rules(chart, tmp_path: Path) -> None:
    rules = write_rules(chart, VARIANTS["monitoring-on"], tmp_path)
    result = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def run_rule_tests(chart, tmp_path: Path, tests: str) -> subprocess.CompletedProcess[str]:
    write_rules(chart, VARIANTS["monitoring-on"], tmp_path)
    (tmp_path / "rules_test.yaml").write_text(tests)
    return subprocess.run(
        [promtool(), "test", "rules", "rules_test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_promtool_unit_tests_fire_and_do_not_fire_every_alert(chart, tmp_path: Path) -> None:
    result = run_rule_tests(chart, tmp_path, ALERT_TESTS.read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    # Each alert has a case where it fires and one where it stays silent.
    tested = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    fires, silent = set(), set()
    for case in tested:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    every = {a["alert"] for a in alerts(rule_groups(chart, VARIANTS["monitoring-on"]))}
    assert fires == every, f"never seen firing: {every - fires}"
    assert silent == every, f"never seen silent: {every - silent}"


def test_promtool_unit_tests_can_fail(chart, tmp_path: Path) -> None:
    # The run above proves something only if a wrong expectation fails it.
    wrong = ALERT_TESTS.read_text().replace("collection: stuck}", "collection: long}")
    assert wrong != ALERT_TESTS.read_text()
    result = run_rule_tests(chart, tmp_path, wrong)
    assert result.returncode != 0
    assert "ChannelCollectionRunPastEta" in result.stdout + result.stderr


def test_alert_labels_and_the_operator_selector_are_configurable(chart) -> None:
    values = {"metrics": {"prometheusRule": {"enabled": True, "alertLabels": {"team": "data"},
                                             "operatorSelector": 'job="cco"'}}}
    rules = alerts(rule_groups(chart, values))
    assert all(r["labels"]["team"] == "data" for r in rules)
    down = next(r for r in rules if r["alert"] == "ChannelCollectionOperatorDown")
    assert down["expr"].strip() == 'absent(up{job="cco"} == 1)'


# --- docs -----------------------------------------------------------------------------------


def test_the_monitoring_page_describes_every_panel_alert_and_value(chart, dashboard) -> None:
    text = DOC.read_text()
    for panel in panels(dashboard):
        assert f"**{panel['title']}**" in text, f"panel {panel['title']!r} is not described"
    for alert in alerts(rule_groups(chart, VARIANTS["monitoring-on"])):
        assert f"`{alert['alert']}`" in text, f"alert {alert['alert']} is not described"
    for value in ["metrics.dashboard.enabled", "metrics.prometheusRule.enabled", "metrics.serviceMonitor.enabled",
                  "auditRetention"]:
        assert value in text, value


def test_the_monitoring_page_lists_every_exported_metric(families) -> None:
    text = DOC.read_text()
    for family in families:
        name = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{name}`" in text, f"{name} is not in docs/monitoring.md"
