"""Create the database named in a DATABASE_URL if it does not exist yet (needs CREATEDB)."""

import sys

import dj_database_url
import psycopg
from psycopg import sql


def main(url: str) -> None:
    config = dj_database_url.parse(url)
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "connect_timeout": 5,
    }
    name = config["NAME"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
