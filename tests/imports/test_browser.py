"""The admin's import journey in a real browser, with a real Celery worker."""

import pytest
from playwright.sync_api import expect

from config.celery import app
from crm.models import Customer
from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROWS = 5_000


def test_admin_uploads_maps_dry_runs_imports_and_downloads_the_rejects(
    live_server, desktop_page, world, celery_worker_queue, monkeypatch, tmp_path
):
    monkeypatch.setitem(app.conf, "task_default_queue", celery_worker_queue)
    lines = ["Account Name;Account Number;Billing City;Territory;Account Owner"]
    lines += [f"Shop {i};S-{i};Leeds;North;rep-north" for i in range(ROWS - 1)]
    lines.insert(40, "Broken Shop;B-1;York;Atlantis;rep-north")
    path = tmp_path / "salesforce-accounts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="cp1252")
    page = desktop_page
    browser_login(page, live_server, "the-admin")

    page.goto(f"{live_server.url}/data/imports/")
    page.get_by_label("The file holds").select_option("customers")
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Upload and map columns").click()

    # A worker reads the file while the page says so, then the mapping appears.
    expect(page.get_by_label("Account Name")).to_have_value("name", timeout=30_000)
    expect(page.get_by_label("Account Number")).to_have_value("code")
    expect(page.get_by_label("Territory", exact=True)).to_have_value("territory")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#progress")).to_be_visible()
    expect(page.get_by_role("heading", name="Dry run: nothing written yet")).to_be_visible(
        timeout=60_000
    )
    expect(page.get_by_test_id("created")).to_have_text(f"{ROWS - 1:,}")
    expect(page.get_by_test_id("rejected")).to_have_text("1")
    expect(page.locator("#rejects")).to_contain_text('no territory "Atlantis"')
    assert not Customer.objects.filter(code="S-1").exists()

    page.get_by_role("button", name="Import now").click()
    expect(page.locator("#progress")).to_be_visible()
    expect(page.get_by_role("heading", name="Imported", exact=True)).to_be_visible(timeout=60_000)
    assert Customer.objects.filter(code__startswith="S-").count() == ROWS - 1

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the 1 rejected rows").click()
    # Written as the upload was (cp1252, ';'), so Excel opens it the way it opened the upload.
    rejects = download.value.path().read_text(encoding="cp1252").splitlines()
    assert rejects[0] == "Account Name;Account Number;Billing City;Territory;Account Owner;error"
    assert rejects[1].startswith("Broken Shop;B-1;York;Atlantis;rep-north;")
