"""The region of an area of delivery (PhilGEPS areas are provinces, or lists of them)."""

from __future__ import annotations

_REGION_PROVINCES: dict[str, tuple[str, ...]] = {
    "NCR": ("Metro Manila",),
    "CAR": ("Abra", "Apayao", "Benguet", "Ifugao", "Kalinga", "Mountain Province"),
    "Region I": ("Ilocos Norte", "Ilocos Sur", "La Union", "Pangasinan"),
    "Region II": ("Batanes", "Cagayan", "Isabela", "Nueva Vizcaya", "Quirino"),
    "Region III": (
        "Aurora",
        "Bataan",
        "Bulacan",
        "Nueva Ecija",
        "Pampanga",
        "Tarlac",
        "Zambales",
    ),
    "Region IV-A": ("Batangas", "Cavite", "Laguna", "Quezon", "Rizal"),
    "MIMAROPA": (
        "Marinduque",
        "Occidental Mindoro",
        "Oriental Mindoro",
        "Palawan",
        "Romblon",
    ),
    "Region V": (
        "Albay",
        "Camarines Norte",
        "Camarines Sur",
        "Catanduanes",
        "Masbate",
        "Sorsogon",
    ),
    "Region VI": (
        "Aklan",
        "Antique",
        "Capiz",
        "Guimaras",
        "Iloilo",
        "Negros Occidental",
    ),
    "Region VII": ("Bohol", "Cebu", "Negros Oriental", "Siquijor"),
    "Region VIII": (
        "Biliran",
        "Eastern Samar",
        "Leyte",
        "Northern Samar",
        "Samar",
        "Southern Leyte",
    ),
    "Region IX": ("Zamboanga Del Norte", "Zamboanga Del Sur", "Zamboanga Sibugay"),
    "Region X": (
        "Bukidnon",
        "Camiguin",
        "Lanao Del Norte",
        "Misamis Occidental",
        "Misamis Oriental",
    ),
    "Region XI": (
        "Compostela Valley",
        "Davao de Oro (Compos. Valley)",
        "Davao Del Norte",
        "Davao Del Sur",
        "Davao Occidental",
        "Davao Oriental",
    ),
    "Region XII": ("Cotabato", "Sarangani", "South Cotabato", "Sultan Kudarat"),
    "Region XIII": (
        "Agusan Del Norte",
        "Agusan Del Sur",
        "Dinagat Island",
        "Dinagat Islands",
        "Surigao Del Norte",
        "Surigao Del Sur",
    ),
    "BARMM": (
        "Basilan",
        "Lanao Del Sur",
        "Maguindanao",
        "Special Geographic Area",
        "Sulu",
        "Tawi-Tawi",
    ),
}

NATIONWIDE = "Nationwide"
MULTIPLE_REGIONS = "Multiple Regions"
UNSPECIFIED = "Unspecified"

_BY_PROVINCE: dict[str, str] = {
    province.casefold(): region
    for region, provinces in _REGION_PROVINCES.items()
    for province in provinces
}
_BY_PROVINCE["philippines"] = NATIONWIDE

REGIONS: tuple[str, ...] = (*_REGION_PROVINCES, NATIONWIDE, MULTIPLE_REGIONS, UNSPECIFIED)
"""Every region value the generator produces."""


def region_of(area: str) -> str:
    """The region of ``area``: a province, or a comma-separated list of them.

    A list within one region gets that region, a list across regions ``Multiple Regions``;
    anything unknown (e.g. "(Independent City)") is ``Unspecified`` rather than a guess.
    """
    regions = {_BY_PROVINCE.get(part.strip().casefold(), UNSPECIFIED) for part in area.split(",")}
    if len(regions) == 1:
        return regions.pop()
    regions.discard(UNSPECIFIED)
    if len(regions) == 1:
        return regions.pop()
    return MULTIPLE_REGIONS
