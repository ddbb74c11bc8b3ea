"""Docs that list what the code defines are checked against it, so they cannot drift: the
background jobs in docs/operations.md against the beat schedule and the tasks, the API's
enumerations in docs/api.md against its schema."""

import re
from pathlib import Path

from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from config.celery import app

DOCS = Path(__file__).resolve().parent.parent / "docs"
OUR_APPS = ("accounts.", "core.", "crm.", "visits.", "health.", "reports.", "imports.", "api.")


def _jobs_table() -> dict[str, str]:
    text = (DOCS / "operations.md").read_text()
    return {
        name: when.strip()
        for name, when in re.findall(r"^\| `([\w.]+)` \| ([^|]+) \|", text, flags=re.MULTILINE)
    }


def test_every_task_and_every_scheduled_job_is_in_the_operations_table():
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.startswith(OUR_APPS)}
    table = _jobs_table()
    assert ours - set(table) == set(), "tasks missing from docs/operations.md"
    assert set(table) - ours == set(), "docs/operations.md lists tasks that do not exist"
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        when = table[entry["task"]]
        assert when != "on demand", f"{entry['task']} runs on the beat, the table says on demand"
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name, when in table.items():
        if when == "on demand":
            assert name not in scheduled, name


def test_the_api_docs_list_every_value_of_the_schemas_enumerations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    text = (DOCS / "api.md").read_text()
    for name in (
        "VisitKindEnum",
        "OutcomeEnum",
        "VisitStatusEnum",
        "SupportCaseKindEnum",
        "AskKindEnum",
        "AskAnswerKindEnum",
        "QuoteOutcomeEnum",
    ):
        values = schema["components"]["schemas"][name]["enum"]
        for value in values:
            assert f"`{value}`" in text, f"docs/api.md does not list {name} value {value!r}"
