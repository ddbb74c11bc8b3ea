"""The web container's health check (docker-compose): GET /healthz from inside the container,
under a host name the settings accept, so Django's host check does not answer 400.

Standard library only, and no Django: it runs every 15 s beside gunicorn."""

import os
import sys
import urllib.request


def healthcheck_host(allowed_hosts: str) -> str:
    """The first concrete name in DJANGO_ALLOWED_HOSTS (".example.com" gives "example.com",
    which Django's leading-dot rule accepts); "localhost" when there is none ("*" or empty)."""
    for entry in allowed_hosts.split(","):
        name = entry.strip().lstrip(".")
        if name and name != "*":
            return name
    return "localhost"


def main() -> int:
    host = healthcheck_host(os.environ.get("DJANGO_ALLOWED_HOSTS", ""))
    port = os.environ.get("CADENCE_HEALTHCHECK_PORT", "8000")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as error:
        print(f"healthz: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
