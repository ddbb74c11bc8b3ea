"""The field app's worker and manifest as served (the browser side is tests/test_offline.py)."""

import re
from types import SimpleNamespace

import pytest
from django.test import Client

from visits import offline_views

pytestmark = pytest.mark.django_db


def test_the_worker_is_versioned_by_what_it_keeps(tmp_path, monkeypatch):
    body = Client().get("/visits/sw.js")
    assert body["Content-Type"].startswith("text/javascript")
    assert "no-cache" in body["Cache-Control"]
    version = re.search(r'"version": "([0-9a-f]{12})"', body.text).group(1)
    assert "/visits/offline/" in body.text and "/static/js/field-store.js" in body.text
    # A change to a template of the offline page makes a new version (phones then fetch it).
    shell = tmp_path / "base.html"
    found = SimpleNamespace(origin=SimpleNamespace(name=str(shell)))
    monkeypatch.setattr(offline_views, "get_template", lambda name: found)
    versions = []
    for text in ("<p>one</p>", "<p>one</p>", "<p>two</p>"):
        shell.write_text(text)
        offline_views.assets_version.cache_clear()
        versions.append(offline_views.assets_version())
    offline_views.assets_version.cache_clear()
    assert versions[0] == versions[1] != versions[2]
    assert version not in versions, "the real templates count"


def test_the_manifest_is_public_and_the_offline_page_is_for_salespeople(client, world):
    manifest = Client().get("/visits/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.json()["scope"] == "/visits/"
    client.force_login(world.rep_north)
    shell = client.get("/visits/offline/")
    assert shell.status_code == 200
    assert "rep-north" not in shell.text and "csrfmiddlewaretoken" not in shell.text
    assert "data-csrf" not in shell.text and "data-user" not in shell.text
    client.force_login(world.north_manager)
    assert client.get("/visits/offline/").status_code == 404
