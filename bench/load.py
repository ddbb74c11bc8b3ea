"""Load test (by hand, loopback only, bounded in time): gunicorn as in production, driven by
wrk from a second process.

    apt-get install -y wrk
    .venv/bin/python bench/load.py [--duration 60] [--users 20 50] [--workers 3]

Uses the database in LOAD_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cadence_load;
created, migrated and seeded with seed_demo's 2,000 customers if empty). Scenarios, each for
`--duration` seconds at each number of concurrent users (wrk connections, no think time):

- schedule: salespeople (sales1..sales8) opening their week, the salesperson's home page;
- mix: 60 % schedule, 15 % logging a visit (POST, writes a visit and queues its refresh),
  25 % a manager's dashboard (manager1..manager4);
- schedule-paced: the schedule again, each user pausing --think-ms between requests (people
  read a page before the next), which shows the latency a user sees below saturation.

wrk's users send back to back: at saturation the latency is the queue in front of the workers
(Little's law: users / throughput), not the time a page takes.

Prints requests/s, p50 / p95 / p99 latency and errors (non-2xx/3xx answers and socket errors).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "cadence-demo"

LUA = r"""
local sales = {SALES}
local managers = {MANAGERS}
local customers = {CUSTOMERS}
local scenario = "{SCENARIO}"
local counter = 0
local base_headers = {["X-Forwarded-Proto"] = "https", ["Host"] = "127.0.0.1"}

local function headers(who, extra)
  local h = {}
  for k, v in pairs(base_headers) do h[k] = v end
  h["Cookie"] = who.cookie
  if extra then for k, v in pairs(extra) do h[k] = v end end
  return h
end

request = function()
  counter = counter + 1
  local roll = counter % 20
  local rep = sales[(counter % #sales) + 1]
  if scenario == "schedule" or roll < 12 then
    return wrk.format("GET", "/visits/schedule/", headers(rep))
  elseif roll < 15 then
    local customer = customers[(counter % #customers) + 1]
    local body = "kind=phone&visited_at=" .. customer.when .. "&duration_minutes=10"
      .. "&travel_minutes=0&distance_km=0&expenses=0&notes=load+test&csrfmiddlewaretoken="
      .. rep.csrf
    local extra = {["Content-Type"] = "application/x-www-form-urlencoded",
                   ["Referer"] = "https://127.0.0.1/visits/log/",
                   ["X-CSRFToken"] = rep.csrf}
    local who = sales[customer.rep]
    extra["X-CSRFToken"] = who.csrf
    body = body:gsub(rep.csrf, who.csrf)
    return wrk.format("POST", "/visits/log/?customer=" .. customer.id, headers(who, extra), body)
  else
    local manager = managers[(counter % #managers) + 1]
    return wrk.format("GET", "/manage/", headers(manager))
  end
end

local think = {THINK}
if think > 0 then
  delay = function() return think end
end

local bad = 0
response = function(status, headers, body)
  if status >= 400 then bad = bad + 1 end
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50": %.2f, "p95": %.2f, "p99": %.2f, '
    .. '"errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def prepare(env: dict) -> None:
    url = urllib.parse.urlsplit(env["DATABASE_URL"])
    name = url.path.lstrip("/")
    subprocess.run(
        ["createdb", "-h", url.hostname, "-p", str(url.port or 5432), "-U", url.username, name],
        capture_output=True,
    )
    manage(env, "migrate", "-v0")
    manage(env, "seed_demo", "--if-empty")
    manage(env, "collectstatic", "--no-input", "-v0")


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def login(base: str, username: str) -> dict:
    opener = urllib.request.build_opener(NoRedirects)
    headers = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}
    with opener.open(urllib.request.Request(f"{base}/login/", headers=headers)) as page:
        cookies = dict(c.split(";", 1)[0].split("=", 1) for c in page.headers.get_all("Set-Cookie"))
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())[1]
    data = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(
        f"{base}/login/",
        data=data,
        headers={
            **headers,
            "Cookie": f"csrftoken={cookies['csrftoken']}",
            "Referer": "https://127.0.0.1/login/",
        },
    )
    try:
        opener.open(request)
    except urllib.error.HTTPError as answer:
        if answer.code != 302:
            raise
        cookies.update(
            dict(c.split(";", 1)[0].split("=", 1) for c in answer.headers.get_all("Set-Cookie"))
        )
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return {"cookie": cookie, "csrf": cookies["csrftoken"]}


def lua_table(items: list[dict]) -> str:
    def value(v):
        return json.dumps(v) if isinstance(v, str) else str(v)

    return (
        "{"
        + ", ".join(
            "{" + ", ".join(f"{k} = {value(v)}" for k, v in item.items()) + "}" for item in items
        )
        + "}"
    )


def customers_of_reps(env: dict, reps: list[str]) -> list[dict]:
    code = (
        "import json, django; django.setup(); from crm.models import Customer; "
        f"reps = {reps!r}; rows = []\n"
        "for i, name in enumerate(reps, start=1):\n"
        "    owned = Customer.objects.filter(owner__username=name)\n"
        "    for pk in owned.values_list('id', flat=True)[:25]:\n"
        "        rows.append({'id': pk, 'rep': i})\n"
        "print(json.dumps(rows))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_wrk(base: str, script: Path, users: int, duration: int) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(users),
            "-d",
            f"{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--users", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--think-ms", type=int, default=100, help="pause per user between requests, paced run"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    static = tempfile.mkdtemp(prefix="cadence-load-static-")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": os.environ.get(
            "LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cadence_load"
        ),
        "DJANGO_DEBUG": "false",
        "CADENCE_SITE_URL": "https://cadence.example.com",
        "DJANGO_SECRET_KEY": "load-test-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_STATIC_ROOT": static,
        "CADENCE_LOGIN_FAILURE_LIMIT": "1000",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # The refreshes that visit logging queues go to a queue of the bench's own, emptied
        # afterwards, so no worker of a real installation on this Redis picks them up.
        "CELERY_QUEUE": "cadence-load-bench",
    }
    prepare(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        # Logging as in production (an access line per request), written nowhere.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        reps = [f"sales{i}" for i in range(1, 9)]
        sales = [login(base, name) for name in reps]
        managers = [login(base, f"manager{i}") for i in range(1, 5)]
        when = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 3600))
        customers = [{**c, "when": when} for c in customers_of_reps(env, reps)]
        print(
            f"gunicorn gthread, {args.workers} workers x {args.threads} threads, DEBUG off; "
            f"wrk 2 threads; {args.duration} s each"
        )
        print(
            f"{'scenario':15} {'users':>5} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'p99 ms':>8} {'errors':>7}"
        )
        with tempfile.TemporaryDirectory() as folder:
            scenarios = ["schedule", "mix"] + (["schedule-paced"] if args.think_ms else [])
            for scenario in scenarios:
                script = Path(folder) / f"{scenario}.lua"
                script.write_text(
                    LUA.replace("{SALES}", lua_table(sales))
                    .replace("{MANAGERS}", lua_table(managers))
                    .replace("{CUSTOMERS}", lua_table(customers))
                    .replace("{SCENARIO}", scenario.removesuffix("-paced"))
                    .replace("{THINK}", str(args.think_ms if scenario.endswith("paced") else 0))
                )
                for users in args.users:
                    result = run_wrk(base, script, users, args.duration)
                    print(
                        f"{scenario:15} {users:5d} {result['requests'] / result['seconds']:8.1f} "
                        f"{result['p50']:8.1f} {result['p95']:8.1f} {result['p99']:8.1f} "
                        f"{result['errors']:7d}"
                    )
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(static, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "purge",
                "-f",
                "-Q",
                "cadence-load-bench",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
        )


if __name__ == "__main__":
    main()
