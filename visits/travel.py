"""Travel between the stops of a day: minutes and km for every pair of points.

By default an estimate that needs nothing outside Cadence: the great-circle distance times a road
factor (roads are not straight), driven at an average speed. With CADENCE_OSRM_URL set, the
matrix comes from that OSRM server's table service (real roads); if it does not answer, the
estimate is used and the plan says so.
"""

import json
import logging
import math
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
# OSRM's table service answers up to its server's --max-table-size (100 by default).
OSRM_MAX_POINTS = 100

Point = tuple[float, float]  # (latitude, longitude)


@dataclass(frozen=True)
class TravelMatrix:
    """minutes[i][j] and km[i][j]: from point i to point j. `source` says where they came from."""

    minutes: list[list[float]]
    km: list[list[float]]
    source: str
    note: str = ""


def great_circle_km(a: Point, b: Point) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def drive_estimate(straight_km: float) -> tuple[int, float]:
    """(minutes, km) of the drive over a straight-line distance, by the estimate's rule."""
    km = straight_km * settings.CADENCE_ROUTE_ROAD_FACTOR
    return round(km / settings.CADENCE_ROUTE_SPEED_KMH * 60), round(km, 1)


def estimated_matrix(points: list[Point]) -> TravelMatrix:
    factor = settings.CADENCE_ROUTE_ROAD_FACTOR
    speed = settings.CADENCE_ROUTE_SPEED_KMH
    km = [[great_circle_km(a, b) * factor for b in points] for a in points]
    minutes = [[distance / speed * 60 for distance in row] for row in km]
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
    durations, distances = answer["durations"], answer["distances"]
    size = len(points)
    if len(durations) != size or any(len(row) != size for row in durations):
        raise ValueError("the table does not match the points asked for")
    # OSRM answers null for a pair it cannot route (an island); the estimate stands in for it.
    fallback = estimated_matrix(points)
    minutes = [
        [
            durations[i][j] / 60 if durations[i][j] is not None else fallback.minutes[i][j]
            for j in range(size)
        ]
        for i in range(size)
    ]
    km = [
        [
            distances[i][j] / 1000 if distances[i][j] is not None else fallback.km[i][j]
            for j in range(size)
        ]
        for i in range(size)
    ]
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
