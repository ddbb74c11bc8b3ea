"""The admins' import pages over HTTP, with a real Celery worker running the imports."""

import datetime as dt
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from config.celery import app
from crm.models import Customer
from imports.engine import media_path
from imports.models import ImportJob, ImportStatus, MappingPreset
from imports.runs import import_run
from imports.services import import_inspect

FILE = "Company,Customer Code,Town,Territory,Tier\nAcme,AC-1,Leeds,North,A\nBad,BD-1,York,North,Q\n"


def post_upload(client, data: bytes, name: str = "list.csv", kind: str = "customers"):
    """Upload, then read the file as the worker would (the page polls meanwhile)."""
    response = client.post(
        reverse("imports:list"),
        {"kind": kind, "file": SimpleUploadedFile(name, data), "sheet": ""},
    )
    if response.status_code == 302:
        job = ImportJob.objects.latest("pk")
        assert job.status == ImportStatus.INSPECTING
        reading = client.get(response["Location"]).text
        assert "Reading the file…" in reading
        import_inspect(job)
    return response


@pytest.mark.django_db
def test_only_admins_see_imports(client, world):
    assert client.get(reverse("imports:list")).status_code == 302
    for user in (world.rep_north, world.north_manager):
        client.force_login(user)
        assert client.get(reverse("imports:list")).status_code == 404
    client.force_login(world.admin)
    assert client.get(reverse("imports:list")).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"%PDF-1.4 ...", "list.pdf", "Upload a CSV (.csv, .txt, .tsv) or Excel (.xlsx) file."),
        (b"", "list.csv", "The submitted file is empty."),
        (bytes(range(256)) * 10, "list.csv", "This is not a CSV or XLSX file"),
    ],
)
def test_upload_errors_are_explained(client, world, data, name, message):
    client.force_login(world.admin)
    response = post_upload(client, data, name)
    assert response.status_code == 400
    assert message in response.text
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_a_file_the_worker_cannot_read_fails_with_the_reason_and_leaves_no_file(client, world):
    client.force_login(world.admin)
    response = post_upload(client, b"Company,Town\n", "list.csv")
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.FAILED
    assert "The file has a header row but no data rows." in client.get(response["Location"]).text
    assert not media_path(job.stored_name).exists()


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_refused(client, world, settings):
    settings.IMPORT_MAX_BYTES = 20
    client.force_login(world.admin)
    response = post_upload(client, FILE.encode())
    assert response.status_code == 400 and "the limit is" in response.text


@pytest.mark.django_db
def test_mapping_without_a_required_field_is_refused_and_kept(client, world):
    client.force_login(world.admin)
    job_url = post_upload(client, FILE.encode())["Location"]
    job = ImportJob.objects.get()
    assert job_url == reverse("imports:detail", args=[job.pk])
    page = client.get(job_url).text
    assert "Acme · Bad" in page, "the first values of each column are shown"
    response = client.post(
        reverse("imports:mapping", args=[job.pk]),
        {
            "column_0": "",
            "column_1": "code",
            "column_2": "city",
            "column_3": "territory",
            "column_4": "tier",
            "date_order": "dmy",
            "action": "dry_run",
        },
    )
    assert response.status_code == 200 and "Map a column to: Name" in response.text
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def wait_for(job: ImportJob, status: str, seconds: float = 60) -> ImportJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == status:
            return job
        time.sleep(0.2)
    raise AssertionError(f"import still {job.status}, not {status}: {job.error}")


def test_dry_run_then_import_on_a_worker_then_revert(
    client, world, celery_worker_queue, monkeypatch
):
    monkeypatch.setitem(app.conf, "task_default_queue", celery_worker_queue)
    client.force_login(world.admin)
    post_upload(client, FILE.encode())
    job = ImportJob.objects.get()
    mapping = {
        "column_0": "name",
        "column_1": "code",
        "column_2": "city",
        "column_3": "territory",
        "column_4": "tier",
        "date_order": "dmy",
    }

    client.post(reverse("imports:mapping", args=[job.pk]), {**mapping, "action": "dry_run"})
    job = wait_for(job, ImportStatus.CHECKED)
    assert (job.rows, job.created, job.rejected) == (2, 1, 1)
    assert not Customer.objects.filter(code="AC-1").exists()
    page = client.get(reverse("imports:detail", args=[job.pk])).text
    assert "Tier: &#x27;Q&#x27; is not one of: A, B, C, D" in page

    client.post(reverse("imports:mapping", args=[job.pk]), {**mapping, "action": "run"})
    job = wait_for(job, ImportStatus.DONE)
    assert Customer.objects.get(code="AC-1").city == "Leeds"
    progress = client.get(
        reverse("imports:detail", args=[job.pk]),
        headers={"HX-Request": "true", "HX-Target": "progress"},
    )
    assert progress.headers["HX-Refresh"] == "true"
    rejects = client.get(reverse("imports:rejects", args=[job.pk]))
    assert rejects["Content-Disposition"] == 'attachment; filename="list-rejects.csv"'
    body = b"".join(rejects.streaming_content).decode("utf-8-sig")
    assert body.splitlines()[1] == "Bad,BD-1,York,North,Q,\"Tier: 'Q' is not one of: A, B, C, D\""

    client.post(reverse("imports:revert", args=[job.pk]))
    job.refresh_from_db()
    assert job.status in {ImportStatus.REVERTING, ImportStatus.REVERTED}
    page = client.get(reverse("imports:detail", args=[job.pk])).text
    assert "Reverting…" in page or "then reverted" in page
    job = wait_for(job, ImportStatus.REVERTED)
    assert job.reverted_by == world.admin
    assert not Customer.objects.filter(code="AC-1").exists()


@pytest.mark.django_db
def test_a_mapping_saved_as_a_preset_serves_the_next_file(client, world):
    client.force_login(world.admin)
    post_upload(client, b"Firm,Ref,Area\nAcme,A-1,North\n")
    first = ImportJob.objects.get()
    client.post(
        reverse("imports:mapping", args=[first.pk]),
        {
            "column_0": "name",
            "column_1": "code",
            "column_2": "territory",
            "date_order": "dmy",
            "action": "dry_run",
        },
    )
    client.post(reverse("imports:preset", args=[first.pk]), {"preset_name": "Old ERP"})

    post_upload(client, b"Ref,Firm,Area,Extra\nB-1,Beta,North,x\n")
    second = ImportJob.objects.latest("pk")
    assert second.mapping == {"Area": "territory"}, "only the headers Cadence knows"
    client.post(
        reverse("imports:preset", args=[second.pk]),
        {"preset": MappingPreset.objects.get(name="Old ERP").pk},
    )
    second.refresh_from_db()
    assert second.mapping == {"Firm": "name", "Ref": "code", "Area": "territory"}


@pytest.mark.django_db
def test_a_run_whose_worker_died_is_taken_over_else_shown_as_failed(client, world):
    client.force_login(world.admin)
    post_upload(client, FILE.encode())
    job = ImportJob.objects.get()
    beat = timezone.now() - dt.timedelta(minutes=1)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, started_at=beat, heartbeat_at=beat
    )
    page = client.get(reverse("imports:detail", args=[job.pk])).text
    assert ImportJob.objects.get().status == ImportStatus.RUNNING, "a minute is not yet stalled"

    assert "stopped answering" not in page

    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=beat - dt.timedelta(minutes=2))
    page = client.get(reverse("imports:detail", args=[job.pk])).text
    assert ImportJob.objects.get().status == ImportStatus.RUNNING
    assert "stopped answering" in page and "Another worker takes it over" in page

    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=beat - dt.timedelta(minutes=7))
    page = client.get(reverse("imports:detail", args=[job.pk])).text
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "no other worker took it over" in page
    assert "nothing was written. Start it again." in page
    assert 'value="dry_run"' in page


@pytest.mark.django_db
def test_revert_asks_for_confirmation_with_what_it_will_undo(client, world):
    client.force_login(world.admin)
    post_upload(client, b"Company,Customer Code,Town,Territory\nAcme,RV-1,Leeds,North\n")
    job = ImportJob.objects.get()
    import_run(job=job, dry_run=False)
    page = client.get(reverse("imports:detail", args=[job.pk])).text
    assert "Revert this import…" in page and 'id="revert-confirm"' not in page
    confirm = client.get(reverse("imports:revert", args=[job.pk])).text
    assert "Revert this import?" in confirm and "removes the 1 record it created" in confirm
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, "asking changes nothing"
