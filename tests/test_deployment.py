"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so they are checked
by reading: every variable the settings read reaches the containers, the proxy setup is safe by
default, migrations run once before anything else starts, and every service has a health check."""

import ast
import contextlib
import fnmatch
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from scripts.healthcheck import healthcheck_host

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = {"migrate", "web", "worker", "webhooks", "nightly", "beat"}
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
    for name in ("postgres", "redis", "web", "worker", "webhooks", "nightly", "beat"):
        assert "healthcheck" in services[name], f"{name} has no health check"


def test_the_dockerfile_pins_its_tools():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv==" in dockerfile and "uv sync --frozen" in dockerfile


def test_the_image_keeps_secrets_out():
    """`COPY . .` takes what .dockerignore does not exclude: never the .env with the secrets."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def excluded(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(path, pattern.lstrip("!")):
                verdict = not negated
        return verdict

    for secret in (".env", ".env.production", ".env.local", "server.key"):
        assert excluded(secret), f"{secret} would be copied into the image"
    assert not excluded(".env.example"), "the example documents the variables"
    assert not excluded("manage.py") and not excluded("config/settings.py")


@pytest.mark.parametrize(
    "allowed", ["cadence.example.com", ".example.com,cadence.example.com", "*", "", "a.b, c"]
)
def test_the_web_health_check_asks_under_an_allowed_host(allowed):
    from django.http.request import validate_host

    healthcheck = compose()["services"]["web"]["healthcheck"]["test"]
    assert healthcheck == ["CMD", "python", "scripts/healthcheck.py"]
    host = healthcheck_host(allowed)
    hosts = [item.strip() for item in allowed.split(",") if item.strip()] or ["localhost"]
    assert validate_host(host, hosts), f"{host!r} is refused by ALLOWED_HOSTS={hosts}"


@pytest.mark.django_db(transaction=True)
def test_gunicorn_as_deployed_is_healthy_and_logs_no_positions(tmp_path):
    """gunicorn with the image's config, DEBUG off and a production host name: the health
    check passes (not a DisallowedHost 400), and a Near me request's position is not in the
    access log."""
    from tests.conftest import database_url_for_subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "deployment-test-secret",
        "DJANGO_ALLOWED_HOSTS": "cadence.example.com",
        "CADENCE_SITE_URL": "https://cadence.example.com",
        "WEB_CONCURRENCY": "1",
        "CADENCE_HEALTHCHECK_PORT": str(port),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
                "config.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            healthy = None
            for _ in range(100):
                healthy = subprocess.run(
                    [sys.executable, "scripts/healthcheck.py"], cwd=ROOT, env=env, check=False
                )
                if healthy.returncode == 0:
                    break
                time.sleep(0.2)
            assert healthy.returncode == 0, log.read_text()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/near/?lat=53.812345&lng=-1.598765&km=10",
                headers={"Host": "cadence.example.com", "X-Forwarded-Proto": "https"},
            )
            # A redirect to log in, or to https: the request is logged either way.
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10).close()
            time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=15)
    text = log.read_text()
    assert "GET /near/ HTTP/1.1" in text, text
    assert "53.812345" not in text and "1.598765" not in text
    assert "Error" not in text and "Traceback" not in text, text


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("apt-get"),
    reason="needs root and Debian's apt",
)
def test_scripts_wait_for_another_apt_instead_of_dying():
    """scripts/test installs what is missing with apt; another apt/dpkg holding the lock (an
    unattended upgrade) makes it wait, not fail."""
    # dpkg and apt lock with fcntl (POSIX) locks, as lockf does; flock(1) would not block them.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; lock = open('/var/lib/dpkg/lock-frontend', 'w'); "
            "fcntl.lockf(lock, fcntl.LOCK_EX); print('held', flush=True); time.sleep(4)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", "source scripts/lib.sh && apt_install bash"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert waited >= 2, "it did not wait for the lock"


def test_gunicorn_workers_load_the_route_solver_when_they_start():
    """docs/field.md: no rep's first route waits for pyvroom's pandas import."""
    check = (
        "import sys, runpy; hooks = runpy.run_path('config/gunicorn.py');"
        "assert 'vroom' not in sys.modules; hooks['post_worker_init'](None);"
        "assert 'vroom' in sys.modules and 'pandas' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", check], cwd=ROOT, check=True)
