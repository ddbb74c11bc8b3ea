"""Load test (by hand, loopback only, bounded in time): gunicorn exactly as the image runs it
(config/gunicorn.py: threaded workers sized from the cores, the heavy-page limit of
core.throttle), a real Celery worker of two processes consuming the refreshes the visits queue,
driven by wrk from a second process pinned to the last core (its own CPU use is printed, so it
can be subtracted).

    apt-get install -y wrk
    LOAD_DATABASE_URL=postgres://postgres@127.0.0.1:5432/cadence_bench \\
        .venv/bin/python bench/load.py [--duration 30] [--users 50]

Uses the database in LOAD_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cadence_load;
created, migrated and seeded with `--customers` (100,000) if empty). It writes visits: a bench
database only. Signed in as `--salespeople` (200) salespeople and with `--managers` (20)
manager sessions at once (made directly, so the bench does not spend its time hashing passwords),
with the schedules' cache made cold at the start. Each scenario runs `--duration` seconds at
`--users` concurrent users (wrk connections), once back to back (throughput at saturation) and
once with each user pausing about `--think` ms between requests (latency below saturation):

- floor: `/`, the smallest login-required page (session, user, auth middleware, a redirect):
  what the framework costs before any page does its work;
- schedule: each salesperson's week (the home page), in turn: served from the schedules' cache
  after each rep's first view (reported as such);
- schedule cold: the same with the cache made stale every 50 ms, so each week is built from the
  database;
- account: the account page of one of the salesperson's own customers;
- log visit: POST of the visit form (writes a visit, queues its refresh, which the worker runs
  during the run);
- dashboard: each manager's dashboard.

Prints per scenario requests/s, its share of the floor's throughput, p50/p95/p99 latency and
errors (non-2xx/3xx answers and socket errors), and how busy each side was: CPU seconds per
wall second of gunicorn, PostgreSQL and the Celery worker (2.0 = two cores' worth). At
saturation the latency is mostly the queue in front of the workers (Little's law).
"""

import argparse
import json
import os
import resource
import runpy
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "cadence-load-bench"
SCENARIOS = ("floor", "schedule", "schedule cold", "account", "log visit", "dashboard")
# Run beside "schedule cold": every 50 ms the schedules' cache is made stale, so (nearly) every
# request builds the week from the database; plain "schedule" is served from the cache after
# each rep's first view (120 s) and is reported as cached.
BUMPER = """
import time, django
django.setup()
from core.cache import all_schedules_changed
while True:
    all_schedules_changed()
    time.sleep(0.05)
"""
LOAD_NOTES = "load test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

LUA = r"""
local sales = {SALES}
local managers = {MANAGERS}
local customers = {CUSTOMERS}
local scenario = "{SCENARIO}"
local counter = 0
local think = {THINK}

if think > 0 then
  -- Each connection is a user who reads the page before the next click.
  delay = function() return math.random(math.floor(think / 2), math.floor(think * 3 / 2)) end
end

local function headers(who, extra)
  local h = {["X-Forwarded-Proto"] = "https", ["Host"] = "127.0.0.1", ["Cookie"] = who.cookie}
  if extra then for k, v in pairs(extra) do h[k] = v end end
  return h
end

request = function()
  counter = counter + 1
  if scenario == "floor" then
    return wrk.format("GET", "/", headers(sales[(counter % #sales) + 1]))
  elseif scenario == "schedule" or scenario == "schedule cold" then
    return wrk.format("GET", "/visits/schedule/", headers(sales[(counter % #sales) + 1]))
  elseif scenario == "account" then
    local customer = customers[(counter % #customers) + 1]
    return wrk.format("GET", "/customers/" .. customer.id .. "/", headers(sales[customer.rep]))
  elseif scenario == "log visit" then
    local customer = customers[(counter % #customers) + 1]
    local who = sales[customer.rep]
    local body = "kind=phone&visited_at=" .. customer.when .. "&duration_minutes=10"
      .. "&travel_minutes=0&distance_km=0&expenses=0&notes=load+test&csrfmiddlewaretoken="
      .. who.csrf
    return wrk.format("POST", "/visits/log/?customer=" .. customer.id, headers(who, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Referer"] = "https://127.0.0.1/visits/log/",
      ["X-CSRFToken"] = who.csrf}), body)
  else
    return wrk.format("GET", "/manage/", headers(managers[(counter % #managers) + 1]))
  end
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

# Run in the project's environment: sessions for the bench's users (as a sign-in would make
# them), a few of each salesperson's own customers, and the schedules' cache made cold.
SIGN_IN = """
import json, django
django.setup()
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from importlib import import_module
from django.utils.module_loading import import_string
from django.middleware.csrf import get_random_string
from accounts.models import Role, User
from core.cache import all_schedules_changed
from crm.models import Customer

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
# The backend that remembers users (axes' backend only vets sign-ins).
BACKEND = next(
    path for path in settings.AUTHENTICATION_BACKENDS
    if hasattr(import_string(path), "get_user")
)

def signed_in(user):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = BACKEND
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    csrf = get_random_string(32)
    cookie = (
        f"{settings.SESSION_COOKIE_NAME}={session.session_key}; "
        f"{settings.CSRF_COOKIE_NAME}={csrf}"
    )
    return {"cookie": cookie, "csrf": csrf}

def first(role, count):
    return list(User.objects.filter(role=role, is_active=True).order_by("pk")[:count])

sales = first(Role.SALESPERSON, {SALESPEOPLE})
# The demo book has four managers: the sessions beyond them sign the same ones in again, as
# managers on a second device would be.
book_managers = first(Role.MANAGER, {MANAGERS})
managers = [book_managers[n % len(book_managers)] for n in range({MANAGERS})]
customers = [
    {"id": pk, "rep": number}
    for number, rep in enumerate(sales, start=1)
    for pk in Customer.objects.filter(owner=rep).order_by("pk").values_list("pk", flat=True)[:3]
]
all_schedules_changed()
print(json.dumps({
    "sales": [signed_in(user) for user in sales],
    "managers": [signed_in(user) for user in managers],
    "customers": customers,
}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def prepare(env: dict, customers: int) -> None:
    url = urllib.parse.urlsplit(env["DATABASE_URL"])
    subprocess.run(
        [
            "createdb",
            "-h",
            url.hostname,
            "-p",
            str(url.port or 5432),
            "-U",
            url.username,
            url.path.lstrip("/"),
        ],
        capture_output=True,
    )
    manage(env, "migrate", "-v0")
    manage(env, "seed_demo", "--if-empty", "--customers", str(customers))
    manage(env, "collectstatic", "--no-input", "-v0")


def count_load_visits(env: dict) -> int:
    """Visits the bench has logged so far (each successful POST writes one)."""
    code = (
        "import django; django.setup(); from visits.models import Visit; "
        f"print(Visit.objects.filter(notes={LOAD_NOTES!r}).count())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


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


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds so far) for every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # Its own time and its waited-for children's: a PostgreSQL backend that exits during a
        # run still counts, in the postmaster.
        cpu = sum(int(ticks) for ticks in fields[11:15]) / CLOCK_TICKS
        found[int(entry.name)] = (int(fields[1]), name, cpu)
    return found


def cpu_by_side(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each side: the process trees under `roots` (by pid), and
    every PostgreSQL process."""
    table = _processes()

    def tree(pid: int) -> float:
        children = [child for child, (parent, _, _) in table.items() if parent == pid]
        return table.get(pid, (0, "", 0.0))[2] + sum(tree(child) for child in children)

    sides = {side: tree(pid) for side, pid in roots.items()}
    sides["postgres"] = sum(cpu for _, name, cpu in table.values() if name == "postgres")
    return sides


def run_wrk(base: str, script: Path, users: int, duration: int) -> dict:
    """wrk's figures, and the CPU seconds it used itself (a load generator on the same cores
    takes from the server: this says how much). Pinned to the last core where taskset exists."""
    pin = ["taskset", "-c", str((os.cpu_count() or 1) - 1)] if shutil.which("taskset") else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [
            *pin,
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
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["wrk_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--think", type=int, default=1000, help="ms between a user's requests")
    parser.add_argument("--salespeople", type=int, default=200)
    parser.add_argument("--managers", type=int, default=20)
    parser.add_argument("--customers", type=int, default=100_000, help="seed size if empty")
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
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # The refreshes that visit logging queues go to a queue of the bench's own, read by the
        # bench's worker and emptied afterwards: no worker of a real installation on this
        # Redis picks them up.
        "CELERY_QUEUE": QUEUE,
    }
    prepare(env, args.customers)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # gunicorn exactly as the image runs it (config/gunicorn.py: its worker class, processes
    # and threads, from WEB_CONCURRENCY and GUNICORN_THREADS as there), on a port of its own.
    deployed = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        # Logging as in production (an access line per request), written nowhere.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            QUEUE,
            "--concurrency",
            "2",
            "--loglevel",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        code = SIGN_IN.replace("{SALESPEOPLE}", str(args.salespeople)).replace(
            "{MANAGERS}", str(args.managers)
        )
        made = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        people = json.loads(made.stdout.strip().splitlines()[-1])
        when = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 3600))
        customers = [{**c, "when": when} for c in people["customers"]]
        time.sleep(3)
        print(
            f"gunicorn as deployed ({deployed['worker_class']}, {deployed['workers']} workers x "
            f"{deployed['threads']} threads), DEBUG off; "
            f"{len(people['sales'])} salespeople's and {len(people['managers'])} managers' "
            f"sessions; a Celery worker (2 processes) on the refresh queue; wrk 2 threads, "
            f"{args.users} users, {args.duration} s a run; {os.cpu_count()} cores"
        )
        roots = {"gunicorn": server.pid, "worker": worker.pid}
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "scenario.lua"

            def write_script(scenario: str, think: int) -> None:
                script.write_text(
                    LUA.replace("{SALES}", lua_table(people["sales"]))
                    .replace("{MANAGERS}", lua_table(people["managers"]))
                    .replace("{CUSTOMERS}", lua_table(customers))
                    .replace("{SCENARIO}", scenario)
                    .replace("{THINK}", str(think))
                )

            def measure(scenario: str, think: int) -> tuple[dict, dict]:
                write_script(scenario, think)
                bumper = None
                if scenario == "schedule cold":
                    bumper = subprocess.Popen([sys.executable, "-c", BUMPER], cwd=ROOT, env=env)
                try:
                    before, started = cpu_by_side(roots), time.monotonic()
                    result = run_wrk(base, script, args.users, args.duration)
                    after, wall = cpu_by_side(roots), time.monotonic() - started
                finally:
                    if bumper is not None:
                        bumper.terminate()
                        bumper.wait(timeout=10)
                busy = {side: (after[side] - before[side]) / wall for side in after}
                busy["wrk"] = result["wrk_cpu"] / wall
                return result, busy

            # Every gunicorn worker imports and connects before anything is timed; the
            # floor page reads no cache, so the schedules stay cold.
            write_script("floor", 0)
            run_wrk(base, script, args.users, 3)
            visits_before, visit_posts = count_load_visits(env), 0
            for think, title in (
                (0, f"{args.users} users back to back (throughput at saturation)"),
                (args.think, f"{args.users} users, each thinking ~{args.think} ms a request"),
            ):
                print(
                    f"\n{title}\n{'scenario':13} {'req/s':>7} {'of floor':>8} {'p50 ms':>7} "
                    f"{'p95 ms':>7} {'p99 ms':>7} {'errors':>6}   CPU per second: "
                    f"gunicorn postgres worker  wrk"
                )
                floor = None
                for scenario in SCENARIOS:
                    # Requests wrk gave up on are still being served: let them drain first.
                    time.sleep(10)
                    result, busy = measure(scenario, think)
                    if scenario == "log visit":
                        visit_posts += result["requests"]
                    rate = result["requests"] / result["seconds"]
                    floor = floor or rate
                    print(
                        f"{scenario:13} {rate:7.1f} {rate / floor:8.0%} {result['p50']:7.1f} "
                        f"{result['p95']:7.1f} {result['p99']:7.1f} {result['errors']:6d}   "
                        f"{busy['gunicorn']:8.2f} {busy['postgres']:8.2f} {busy['worker']:6.2f} "
                        f"{busy['wrk']:4.2f}",
                        flush=True,
                    )
            written = count_load_visits(env) - visits_before
            print(f"\nvisits written: {written:,} for {visit_posts:,} log visit requests")
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(static, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", QUEUE],
            cwd=ROOT,
            env=env,
            capture_output=True,
        )


if __name__ == "__main__":
    main()
