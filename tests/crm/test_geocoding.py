"""Geocoding against a local HTTP server that answers like Nominatim (nothing here needs the
internet), with the offline town-centre fallback."""

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from crm.geocoding import MAX_ATTEMPTS, customers_geocode, town_centre
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

KNOWN = {"1 park row, ls1 5ab leeds, united kingdom": ("53.7986", "-1.5474")}


@pytest.fixture(autouse=True)
def only_these_accounts(world):
    """The shared world's accounts have a town; here they have none, so only ours are placed."""
    world.north.customers.model.objects.update(city="")


class FakeNominatim(BaseHTTPRequestHandler):
    """Answers /search like Nominatim's JSON API; "broken" in an address makes it fail."""

    requests: list[dict] = []

    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        FakeNominatim.requests.append(
            {"q": query.get("q", [""])[0], "ua": self.headers["User-Agent"], "at": time.monotonic()}
        )
        address = query.get("q", [""])[0].casefold()
        if "broken" in address:
            self.send_response(500)
            self.end_headers()
            return
        found = KNOWN.get(address)
        body = json.dumps(
            [{"lat": found[0], "lon": found[1], "display_name": address}] if found else []
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def nominatim(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNominatim)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeNominatim.requests = []
    settings.CADENCE_GEOCODER = "nominatim"
    settings.CADENCE_GEOCODER_OPTIONS = {
        "domain": f"127.0.0.1:{server.server_port}",
        "scheme": "http",
    }
    settings.CADENCE_GEOCODER_USER_AGENT = "cadence-tests"
    settings.CADENCE_GEOCODER_SECONDS_BETWEEN = 1
    yield FakeNominatim
    server.shutdown()


def test_addresses_are_geocoded_politely_else_placed_at_their_town(world, nominatim, settings):
    place = {"territory": world.north, "owner": world.rep_north, "country": "United Kingdom"}
    found = CustomerFactory(address_line1="1 Park Row", postal_code="LS1 5AB", **place)
    unknown = CustomerFactory(address_line1="99 Nowhere Lane", city="York", **place)
    lost = CustomerFactory(address_line1="7 Mystery Road", city="Atlantis", **place)
    flaky = CustomerFactory(address_line1="3 Broken Street", city="Hull", **place)
    CustomerFactory(address_line1="", city="", postal_code="", **place)  # nothing to look up
    result = customers_geocode()
    assert (result.geocoded, result.approximate, result.failed) == (1, 2, 1)
    found.refresh_from_db()
    assert (found.latitude, found.longitude, found.location_source) == (
        53.7986,
        -1.5474,
        "geocoded",
    )
    unknown.refresh_from_db()
    assert unknown.location_source == "approximate"
    assert unknown.latitude == pytest.approx(53.96, abs=0.05)
    flaky.refresh_from_db()
    assert flaky.location_source == "approximate" and "GeocoderServiceError" in flaky.geocode_error
    lost.refresh_from_db()
    assert lost.latitude is None and lost.geocode_attempts == 1
    assert "not found" in lost.geocode_error or "not known" in lost.geocode_error
    # One request a second, each with the configured user agent.
    assert len(nominatim.requests) == 4 and {r["ua"] for r in nominatim.requests} == {
        "cadence-tests"
    }
    moments = [r["at"] for r in nominatim.requests]
    assert all(later - earlier >= 0.99 for earlier, later in itertools.pairwise(moments))
    # Answers are cached: the approximate ones are tried again, asking only the broken one's
    # address again (failures are not cached).
    nominatim.requests.clear()
    settings.CADENCE_GEOCODER_SECONDS_BETWEEN = 0
    customers_geocode()
    assert [r["q"] for r in nominatim.requests] == [
        "3 Broken Street, Hull, United Kingdom"
    ]  # only the broken one, whose failure is not cached
    for _ in range(MAX_ATTEMPTS):
        customers_geocode()
    lost.refresh_from_db()
    assert lost.geocode_attempts == MAX_ATTEMPTS


def test_offline_every_address_falls_back_to_its_town(world, settings):
    settings.CADENCE_GEOCODER = "none"
    account = CustomerFactory(
        territory=world.north, owner=world.rep_north, address_line1="1 High St", city="Bath"
    )
    assert customers_geocode().approximate == 1
    account.refresh_from_db()
    assert account.location_source == "approximate"
    assert (account.latitude, account.longitude) == pytest.approx((51.3751, -2.36172), abs=0.01)
    assert town_centre(city="Leeds", country="UK") == pytest.approx((53.79648, -1.54785), abs=0.01)
    assert town_centre(city="", country="UK") is None
