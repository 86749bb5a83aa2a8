"""A world choropleth drawn on the server as SVG from the vendored world-atlas TopoJSON (Natural Earth 1:110m).

No script is needed to see it, and it works air-gapped. Countries are coloured by CSS classes (q0-q5), so the
page needs no inline style. The projection is Equal Earth (Šavrič, Patterson and Jenny, 2018): equal-area, so a
big country does not look more important than it is."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import pycountry
from markupsafe import Markup, escape

WIDTH = 960.0
# Equal Earth constants.
_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_M = math.sqrt(3) / 2


def _equal_earth(lon: float, lat: float) -> tuple[float, float]:
    lam = math.radians(lon)
    theta = math.asin(_M * math.sin(math.radians(lat)))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * math.cos(theta) / (_M * (_A1 + 3 * _A2 * t2 + t6 * (7 * _A3 + 9 * _A4 * t2)))
    y = theta * (_A1 + _A2 * t2 + t6 * (_A3 + _A4 * t2))
    return x, y


_X_MAX = _equal_earth(180.0, 0.0)[0]
_Y_MAX = _equal_earth(0.0, 90.0)[1]
SCALE = WIDTH / (2 * _X_MAX)
HEIGHT = round(2 * _Y_MAX * SCALE, 1)


def _screen(lon: float, lat: float) -> tuple[float, float]:
    x, y = _equal_earth(lon, lat)
    return (x + _X_MAX) * SCALE, (_Y_MAX - y) * SCALE


@dataclass(frozen=True)
class Country:
    alpha2: str
    name: str
    path: str


def _decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append(_screen(x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(arcs: list[list[tuple[float, float]]], indexes: list[int]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc[1:] if points else arc)
    return points


def _path(rings: list[list[tuple[float, float]]]) -> str:
    parts = []
    for ring in rings:
        if len(ring) < 3:
            continue
        # A ring that crosses the antimeridian (Fiji, Chukotka) would draw a line across the map: lift the pen.
        out = [f"M{ring[0][0]:.1f},{ring[0][1]:.1f}"]
        for (x0, _), (x, y) in itertools.pairwise(ring):
            out.append(f"{'M' if abs(x - x0) > WIDTH / 2 else 'L'}{x:.1f},{y:.1f}")
        parts.append("".join(out) + "Z")
    return "".join(parts)


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    """Every country of the atlas with its projected outline, keyed by ISO 3166-1 alpha-2."""
    source = resources.files("threadline.web") / "static" / "vendor" / "world-atlas" / "countries-110m.json"
    topology = json.loads(source.read_text(encoding="utf-8"))
    arcs = _decode_arcs(topology)
    out = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        numeric = geometry.get("id")
        found = pycountry.countries.get(numeric=str(numeric)) if numeric else None
        # A few areas have no ISO number in Natural Earth (Kosovo, Northern Cyprus, Somaliland).
        alpha2 = found.alpha_2 if found is not None else {"Kosovo": "XK"}.get(geometry["properties"]["name"], "")
        if geometry["type"] == "Polygon":
            polygons = [geometry["arcs"]]
        elif geometry["type"] == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        rings = [_ring(arcs, ring) for polygon in polygons for ring in polygon]
        out.append(Country(alpha2, geometry["properties"]["name"], _path(rings)))
    return tuple(out)


def bucket(value: int, maximum: int) -> int:
    """0 for none, else 1-5 on a square-root scale (a few countries hold most leads)."""
    if value <= 0 or maximum <= 0:
        return 0
    return max(1, min(5, math.ceil(5 * math.sqrt(value / maximum))))


def choropleth(values: dict[str, int], *, label: str, link: str | None = None) -> Markup:
    """An SVG map; each country's class is its bucket and its title says the figure. `link` is a URL pattern
    with `{country}` to make countries with a value clickable."""
    maximum = max(values.values(), default=0)
    parts = [
        f'<svg class="worldmap" viewBox="0 0 {WIDTH:.0f} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)} per country" xmlns="http://www.w3.org/2000/svg">'
    ]
    for country in countries():
        value = values.get(country.alpha2, 0)
        title = f"{country.name}: {value} {label}"
        shape = (
            f'<path class="q{bucket(value, maximum)}" d="{country.path}" data-country="{escape(country.alpha2)}">'
            f"<title>{escape(title)}</title></path>"
        )
        if link and value and country.alpha2:
            shape = f'<a href="{escape(link.format(country=country.alpha2))}">{shape}</a>'
        parts.append(shape)
    parts.append("</svg>")
    return Markup("".join(parts))
