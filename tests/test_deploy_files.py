"""compose.yaml's `scale` profile and deploy/kubernetes/shakespeare-bot.yaml (issue 27).

Neither can be run here (no Docker engine, no cluster, no registry), so these check what can be
checked offline: each file against its format's published schema (the Compose Specification's
JSON schema as check-jsonschema ships it; Kubernetes' own OpenAPI schemas, strict, as
kubernetes-validate ships them), and each against the bot itself: every variable is one that
bot/config.py knows, the values pass BotConfig.from_env, the probes ask the routes that
bot/ops/http_status.py serves, on the port METRICS_PORT names.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from bot.config import ENVIRONMENT, BotConfig

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
MANIFEST = ROOT / "deploy" / "kubernetes" / "shakespeare-bot.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
# 1.28: the first release that labels a StatefulSet's pods with apps.kubernetes.io/pod-index.
KUBERNETES_VERSIONS = ("1.28", "1.30")
KNOWN_VARIABLES = {name for name, _default, _meaning in ENVIRONMENT}
SCALE_SERVICES = {"postgres", "shard-0", "shard-1", "trainer"}
POD_INDEX = "metadata.labels['apps.kubernetes.io/pod-index']"

# The default service exactly as it was before the profile came: `docker compose up` must not change.
DEFAULT_BOT_SERVICE = {
    "build": {"context": ".", "args": {"TORCH_VARIANT": "${TORCH_VARIANT:-cpu}"}},
    "image": "shakespeare-bot:${TORCH_VARIANT:-cpu}",
    "env_file": "bot.env",
    "environment": {"SHARD_COUNT": "${SHARD_COUNT:-}", "SHARD_IDS": "${SHARD_IDS:-}"},
    "volumes": ["bot-data:/data"],
    "restart": "unless-stopped",
    "stop_grace_period": "15s",
    "read_only": True,
    "tmpfs": ["/tmp"],
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _manifest() -> list[dict]:
    return [document for document in yaml.safe_load_all(MANIFEST.read_text()) if document]


def _routes() -> dict[str, str]:
    """{path: handler} of every `router.add_get(path, self.handler)` in bot/ops/http_status.py."""
    tree = ast.parse((ROOT / "bot" / "ops" / "http_status.py").read_text())
    routes = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_get"
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[1], ast.Attribute)):
            routes[node.args[0].value] = node.args[1].attr
    return routes


def _route_of(handler: str) -> str:
    paths = [path for path, name in _routes().items() if name == handler]
    assert len(paths) == 1, f"bot/ops/http_status.py should route one path to {handler}: {_routes()}"
    return paths[0]


def _interpolate(value: str) -> str:
    """Compose's ${NAME:-default} as it would be with a password set and nothing else."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}",
                  lambda m: "s3cret" if m[1] == "POSTGRES_PASSWORD" else (m[2] or ""), value)


# -- compose.yaml --------------------------------------------------------------------------------


def _compose_errors(compose: dict) -> list[str]:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(schema_file.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(compose)]


def test_compose_file_follows_the_compose_specification():
    assert _compose_errors(_compose()) == []


def test_the_compose_schema_check_sees_a_mistake():
    broken = json.loads(json.dumps(_compose()))  # unshared: YAML's merge keys share objects
    broken["services"]["shard-0"]["read_onyl"] = True
    broken["services"]["trainer"]["depends_on"]["postgres"]["condition"] = "service_ready"
    errors = "\n".join(_compose_errors(broken))
    assert "'read_onyl' was unexpected" in errors and "services/trainer/depends_on" in errors
    assert "shard-1" not in errors


def test_default_service_is_unchanged_and_the_only_one_without_a_profile():
    services = _compose()["services"]
    assert services["bot"] == DEFAULT_BOT_SERVICE
    assert [name for name, service in services.items() if not service.get("profiles")] == ["bot"]
    scale = {name for name, service in services.items() if service.get("profiles") == ["scale"]}
    assert scale == SCALE_SERVICES


def test_scale_profile_runs_postgres_with_a_volume_and_a_readiness_check():
    compose = _compose()
    postgres = compose["services"]["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    volume, _, path = postgres["volumes"][0].partition(":")
    assert volume in compose["volumes"] and path == "/var/lib/postgresql/data"
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    # The password comes from the environment or an env file, never from this file.
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")
    # Compose interpolates every service before it drops those of inactive profiles, so a
    # required variable (${VAR:?...}) would stop a plain `docker compose up` without the profile.
    assert ":?" not in COMPOSE.read_text()


def _bot_services(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items()
            if service.get("image", "").startswith("shakespeare-bot")}


def test_every_variable_given_to_the_bot_in_compose_is_one_it_knows():
    for name, service in _bot_services(_compose()).items():
        unknown = set(service.get("environment", {})) - KNOWN_VARIABLES
        assert not unknown, f"{name}: bot/config.py knows no {sorted(unknown)}"


def test_shards_cover_every_shard_once_over_postgres_with_metrics_published():
    compose = _compose()
    shards = {name: service for name, service in compose["services"].items() if name.startswith("shard-")}
    counts = {service["environment"]["SHARD_COUNT"] for service in shards.values()}
    assert counts == {str(len(shards))}
    assert sorted(int(service["environment"]["SHARD_IDS"]) for service in shards.values()) == list(
        range(len(shards)))
    host_ports = []
    for name, service in shards.items():
        environment = service["environment"]
        assert environment["SHARD_IDS"] == name.removeprefix("shard-")
        assert environment["VOICE_TRAINER"] == "off"
        assert environment["DATABASE_URL"].split("@")[1].startswith("postgres:5432/")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["env_file"] == "bot.env" and "DISCORD_TOKEN" not in environment
        # Nothing shared: settings and voices are in PostgreSQL.
        assert "volumes" not in service
        # The port published is the one the bot serves /readyz on.
        (published,) = service["ports"]
        *host, container = published.split(":")
        assert container == environment["METRICS_PORT"]
        host_ports.append(":".join(host))
        config = BotConfig.from_env({key: _interpolate(value) for key, value in environment.items()}
                                    | {"DISCORD_TOKEN": "token"})
        assert config.database_url is not None and config.voice_trainer == "off"
        assert config.shard_count == len(shards) and config.metrics_port == int(container)
    assert len(set(host_ports)) == len(host_ports), "two shards cannot publish the same host port"


def test_bot_services_keep_the_security_settings():
    for name, service in _bot_services(_compose()).items():
        assert service["read_only"] is True, name
        assert "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_trainer_is_the_same_image_on_the_same_database_without_the_token():
    services = _compose()["services"]
    trainer = services["trainer"]
    assert trainer["command"] == ["trainer"]
    assert trainer["image"] == services["shard-0"]["image"] == DEFAULT_BOT_SERVICE["image"]
    assert trainer["environment"]["DATABASE_URL"] == services["shard-0"]["environment"]["DATABASE_URL"]
    assert "env_file" not in trainer and "DISCORD_TOKEN" not in trainer["environment"]
    # The image's HEALTHCHECK (python -m bot healthcheck) reads the heartbeat the trainer writes.
    assert "healthcheck" not in trainer
    assert trainer["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("path", [COMPOSE, DEPLOY_DOC], ids=["compose.yaml", "docs/deploy.md"])
def test_the_documented_command_starts_the_profile_and_not_the_default_bot(path: Path):
    """`--profile scale up` alone would start `bot` too: the command must name the services."""
    commands = re.findall(r"--profile scale up ([^\n`]*)", path.read_text())
    assert commands
    for command in commands:
        named = {word for word in command.split() if not word.startswith("-")}
        assert named == SCALE_SERVICES, command


# -- deploy/kubernetes/shakespeare-bot.yaml ------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_document_validates_against_the_kubernetes_schema(version: str):
    documents = _manifest()
    assert [document["kind"] for document in documents] == ["Service", "StatefulSet", "Deployment",
                                                            "NetworkPolicy"]
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


def test_the_kubernetes_schema_check_sees_a_mistake():
    statefulset = copy.deepcopy(_by_kind("StatefulSet"))
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFileSystem"] = True  # the field is ...Filesystem
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[-1], strict=True)


def _by_kind(kind: str) -> dict:
    (document,) = [document for document in _manifest() if document["kind"] == kind]
    return document


def _containers() -> dict[str, dict]:
    return {kind: _by_kind(kind)["spec"]["template"]["spec"]["containers"][0]
            for kind in ("StatefulSet", "Deployment")}


def _environment(container: dict, pod_index: int) -> dict[str, str]:
    """The container's variables as the kubelet would set them in the pod with that ordinal (the
    Secret's values as the manifest's `kubectl create secret` command would make them)."""
    secret = _documented_secret()
    found = {}
    for variable in container["env"]:
        if "value" in variable:
            found[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable["valueFrom"]:
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == "shakespeare-bot"
            found[variable["name"]] = secret[reference["key"]]
        else:
            assert variable["valueFrom"]["fieldRef"]["fieldPath"] == POD_INDEX, variable
            found[variable["name"]] = str(pod_index)
    return found


def test_every_variable_in_the_manifest_is_one_the_bot_knows():
    for kind, container in _containers().items():
        unknown = {variable["name"] for variable in container["env"]} - KNOWN_VARIABLES
        assert not unknown, f"{kind}: bot/config.py knows no {sorted(unknown)}"


def test_each_shard_pod_runs_the_shard_of_its_ordinal():
    statefulset = _by_kind("StatefulSet")
    replicas = statefulset["spec"]["replicas"]
    container = _containers()["StatefulSet"]
    (shard_ids,) = [variable for variable in container["env"] if variable["name"] == "SHARD_IDS"]
    assert shard_ids["valueFrom"]["fieldRef"]["fieldPath"] == POD_INDEX
    shards = []
    for ordinal in range(replicas):
        config = BotConfig.from_env(_environment(container, ordinal))
        assert config.shard_count == replicas, "SHARD_COUNT must equal the StatefulSet's replicas"
        assert config.database_url is not None and config.token and config.voice_trainer == "off"
        shards += config.shard_ids
    assert shards == list(range(replicas))


def test_probes_ask_the_bots_routes_on_the_metrics_port():
    statefulset = _by_kind("StatefulSet")
    container = _containers()["StatefulSet"]
    environment = _environment(container, 0)
    port = int(environment["METRICS_PORT"])
    assert environment["METRICS_HOST"] == "0.0.0.0", "probes come from outside the pod's loopback"
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}

    def probe(kind: str) -> str:
        http = container[kind]["httpGet"]
        assert ports.get(http["port"], http["port"]) == port, f"{kind} must use METRICS_PORT"
        return http["path"]

    assert probe("livenessProbe") == _route_of("_healthz")
    assert probe("startupProbe") == _route_of("_healthz")
    assert probe("readinessProbe") == _route_of("_readyz")
    service = _by_kind("Service")
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert ports.get(service["spec"]["ports"][0]["targetPort"]) == port


@pytest.mark.parametrize("kind", ["StatefulSet", "Deployment"])
def test_pods_run_unprivileged_read_only_bounded_with_scratch_volumes(kind: str):
    pod = _by_kind(kind)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    # /tmp: the heartbeat and scratch files; /data: BOT_DB_PATH's folder and the voices cache.
    assert {mounts.get("/tmp"), mounts.get("/data")} <= empty_dirs


def test_trainer_is_one_pod_of_the_same_image_without_the_token():
    deployment = _by_kind("Deployment")
    trainer, shard = _containers()["Deployment"], _containers()["StatefulSet"]
    assert deployment["spec"]["replicas"] == 1
    assert trainer["args"] == ["trainer"] and "command" not in trainer
    assert trainer["image"] == shard["image"]
    environment = _environment(trainer, 0)
    assert "DISCORD_TOKEN" not in environment
    assert environment["DATABASE_URL"] == _environment(shard, 0)["DATABASE_URL"]
    BotConfig.from_env(environment)
    # Its probes run the image's health check, which reads the trainer's heartbeat.
    for kind in ("startupProbe", "livenessProbe"):
        assert trainer[kind]["exec"]["command"] == ["python", "-m", "bot", "healthcheck"]
    assert "readinessProbe" not in trainer  # it serves nothing to be ready for


def _documented_secret() -> dict[str, str]:
    """{key: value} of the `kubectl create secret generic shakespeare-bot` the manifest's header
    gives (a token as the command would read it from its file)."""
    text = MANIFEST.read_text()
    assert "kubectl create secret generic shakespeare-bot" in text
    values = dict(re.findall(r"--from-literal=(\w+)=\S*?'?([^'\s]*)'?\s", text))
    values["DISCORD_TOKEN"] = "a-token-from-the-file"
    return values


def test_the_manifest_holds_no_secret_only_how_to_create_one():
    assert "Secret" not in [document["kind"] for document in _manifest()]
    assert set(_documented_secret()) == {"DISCORD_TOKEN", "DATABASE_URL"}
    assert _documented_secret()["DATABASE_URL"].startswith("postgresql://")


def test_only_the_scraper_and_the_kubelet_may_connect():
    policy = _by_kind("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "shakespeare-bot"}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "metrics"}]
    scraper, nodes = rule["from"]
    assert scraper["podSelector"]["matchLabels"] and scraper["namespaceSelector"]["matchLabels"]
    assert set(nodes) == {"ipBlock"}
