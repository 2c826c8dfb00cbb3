"""Tests of deriving a region from an area of delivery."""

from __future__ import annotations

import pytest

from conveyor.awards.marginals_data import load_marginals
from conveyor.awards.regions import MULTIPLE_REGIONS, NATIONWIDE, REGIONS, UNSPECIFIED, region_of


@pytest.mark.parametrize(
    ("area", "region"),
    [
        ("Metro Manila", "NCR"),
        ("Leyte", "Region VIII"),
        ("davao del sur", "Region XI"),
        ("Davao de Oro (Compos. Valley)", "Region XI"),
        ("Leyte, Samar", "Region VIII"),
        ("Bohol, Cebu, Negros Oriental, Siquijor", "Region VII"),
        ("Iloilo, Isabela", MULTIPLE_REGIONS),
        ("Philippines", NATIONWIDE),
        ("(Independent City)", UNSPECIFIED),
        ("Cebu, Atlantis", "Region VII"),
    ],
)
def test_regions(area: str, region: str) -> None:
    assert region_of(area) == region


def test_every_real_single_province_area_has_a_region() -> None:
    areas = load_marginals().areas["entity"].to_list()
    unknown = [a for a in areas if "," not in a and region_of(a) == UNSPECIFIED]
    assert unknown == ["(Independent City)"]
    assert {region_of(a) for a in areas} <= set(REGIONS)
