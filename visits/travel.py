"""Travel between the stops of a day: minutes and km for every pair of points.

By default an estimate that needs nothing outside Cadence: the great-circle distance times a road
factor (roads are not straight), driven at an average speed. With CADENCE_OSRM_URL set, the
matrix comes from that OSRM server's table service (real roads); if it does not answer, the
estimate is used and the plan says so.
"""

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy
from django.conf import settings

logger = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
# OSRM's table service answers up to its server's --max-table-size (100 by default).
OSRM_MAX_POINTS = 100

Point = tuple[float, float]  # (latitude, longitude)


@dataclass(frozen=True)
class TravelMatrix:
    """minutes[i][j] and km[i][j]: from point i to point j (float arrays, so a day's matrix is
    built and read without a Python loop per pair). `source` says where they came from."""

    minutes: numpy.ndarray
    km: numpy.ndarray
    source: str
    note: str = ""


def great_circle_km(a: Point, b: Point) -> float:
    return float(great_circle_km_matrix([a], [b])[0, 0])


def great_circle_km_matrix(origins: list[Point], destinations: list[Point]) -> numpy.ndarray:
    """km[i][j] from origins[i] to destinations[j]: `great_circle_km` over whole arrays."""
    a = numpy.radians(numpy.asarray(origins, dtype=float).reshape(-1, 2))
    b = numpy.radians(numpy.asarray(destinations, dtype=float).reshape(-1, 2))
    lat1, lng1 = a[:, 0:1], a[:, 1:2]
    lat2, lng2 = b[:, 0], b[:, 1]
    h = (
        numpy.sin((lat2 - lat1) / 2) ** 2
        + numpy.cos(lat1) * numpy.cos(lat2) * numpy.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * numpy.arcsin(numpy.minimum(1.0, numpy.sqrt(h)))


def drive_estimate(straight_km: float) -> tuple[int, float]:
    """(minutes, km) of the drive over a straight-line distance, by the estimate's rule."""
    km = straight_km * settings.CADENCE_ROUTE_ROAD_FACTOR
    return round(km / settings.CADENCE_ROUTE_SPEED_KMH * 60), round(km, 1)


def estimated_matrix(points: list[Point]) -> TravelMatrix:
    km = great_circle_km_matrix(points, points) * settings.CADENCE_ROUTE_ROAD_FACTOR
    minutes = km / settings.CADENCE_ROUTE_SPEED_KMH * 60
    return TravelMatrix(minutes=minutes, km=km, source="estimate")


def osrm_matrix(points: list[Point], base_url: str, timeout: float) -> TravelMatrix:
    """The OSRM table service's durations and distances (it takes longitude first)."""
    coordinates = ";".join(f"{lng:.6f},{lat:.6f}" for lat, lng in points)
    url = f"{base_url.rstrip('/')}/table/v1/driving/{coordinates}?annotations=duration,distance"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.load(response)
    if answer.get("code") != "Ok":
        raise ValueError(answer.get("message") or answer.get("code") or "no answer")
    size = len(points)
    # None (OSRM's null for a pair it cannot route, an island) becomes NaN.
    durations = numpy.array(answer["durations"], dtype=float)
    distances = numpy.array(answer["distances"], dtype=float)
    if durations.shape != (size, size) or distances.shape != (size, size):
        raise ValueError("the table does not match the points asked for")
    fallback = estimated_matrix(points)
    minutes = numpy.where(numpy.isnan(durations), fallback.minutes, durations / 60)
    km = numpy.where(numpy.isnan(distances), fallback.km, distances / 1000)
    return TravelMatrix(minutes=minutes, km=km, source="osrm")


def travel_matrix(points: list[Point]) -> TravelMatrix:
    base_url = settings.CADENCE_OSRM_URL
    if not base_url or len(points) > OSRM_MAX_POINTS:
        return estimated_matrix(points)
    try:
        return osrm_matrix(points, base_url, settings.CADENCE_OSRM_TIMEOUT)
    except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError) as error:
        logger.warning("osrm table failed, using the estimate: %s", error)
        estimate = estimated_matrix(points)
        return TravelMatrix(
            minutes=estimate.minutes,
            km=estimate.km,
            source="estimate",
            note="The routing server did not answer: travel times are estimates.",
        )
