"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so they are checked
by reading: every variable the settings read reaches the containers, the proxy setup is safe by
default, migrations run once before anything else starts, and every service has a health check."""

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = {"migrate", "web", "worker", "beat"}
# Read by the settings but fixed by docker-compose for the containers (the lines under the
# app's `environment`), or meaningless there.
SET_BY_COMPOSE = {
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_MEDIA_ROOT",
    "DJANGO_STATIC_ROOT",
}


def settings_variables() -> set[str]:
    """Every environment variable crm/settings.py reads (os.environ.get, env_bool, env_list)."""
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        func = node.func
        is_environ_get = (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and isinstance(func.value, ast.Attribute)
            and func.value.attr == "environ"
        )
        is_helper = isinstance(func, ast.Name) and func.id in {"env_bool", "env_list"}
        if is_environ_get or is_helper:
            names.add(first.value)
    return names


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return dict(pairs)


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_variable_the_settings_read_reaches_the_containers():
    read = settings_variables()
    assert {"DJANGO_PROXY_COUNT", "CADENCE_CACHE_PREFIX", "DJANGO_EMAIL_HOST"} <= read
    services = compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["env_file"] == ".env", name
        assert set(service["environment"]) >= SET_BY_COMPOSE, name
    missing = (
        read - set(env_example()) - SET_BY_COMPOSE - {"DJANGO_MEDIA_ROOT", "DJANGO_STATIC_ROOT"}
    )
    assert not missing, f"add to .env.example: {sorted(missing)}"
    assert "WEB_CONCURRENCY" in env_example(), "gunicorn's worker count"


def test_the_proxy_setup_is_safe_by_default():
    example = env_example()
    assert example["DJANGO_PROXY_COUNT"] == "1"
    assert example["CADENCE_BIND"] == "127.0.0.1"
    (port,) = compose()["services"]["web"]["ports"]
    assert port.startswith("${CADENCE_BIND:-127.0.0.1}:"), "never on every interface by default"


def test_secrets_are_required_not_defaulted():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${POSTGRES_PASSWORD:?" in text and "${DJANGO_SECRET_KEY:?" in text
    assert "POSTGRES_PASSWORD:-" not in text
    assert env_example()["DJANGO_SECRET_KEY"] == "" and env_example()["POSTGRES_PASSWORD"] == ""


def test_one_image_migrated_once_before_the_rest_start():
    services = compose()["services"]
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"]
    assert {services[name]["image"] for name in APP_SERVICES} == {"cadence:local"}
    assert "migrate" in services["migrate"]["command"]
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name
        assert "migrate" not in str(services[name]["command"]), f"{name} must not migrate"
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert "healthcheck" in services[name], f"{name} has no health check"


def test_the_dockerfile_pins_its_tools():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv==" in dockerfile and "uv sync --frozen" in dockerfile
