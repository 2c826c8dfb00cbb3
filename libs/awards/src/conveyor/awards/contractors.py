"""Synthetic contractor names: a deterministic pool of realistic Filipino company names."""

from __future__ import annotations

import numpy as np

from conveyor.awards.vocabulary import BRAND_WORDS, BUSINESS_KINDS, GIVEN_NAMES, SURNAMES

_INITIALS = np.array(list("ABCDEFGHIJLMNPRSTV"))


def contractor_names(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct company names, the same for the same ``seed``."""
    rng = np.random.default_rng([seed, 0xC0])
    names: dict[str, None] = {}
    while len(names) < count:
        # Draw a batch of candidates per round; duplicates are dropped and another round
        # fills the gap, so the result depends only on the seed.
        for name in _candidates(rng, max(1024, 2 * (count - len(names)))):
            names.setdefault(name)
            if len(names) == count:
                break
    return list(names)


def zipf_weights(count: int, exponent: float = 0.9, offset: float = 10.0) -> np.ndarray:
    """Zipf-Mandelbrot weights (sum 1): rank 1 gets the most awards, with a long tail.

    The offset flattens the head so the biggest contractor holds under 1 % of awards (as in
    the real data) rather than the 10 % plain Zipf gives.
    """
    ranks = np.arange(1, count + 1, dtype=np.float64)
    weights: np.ndarray = 1.0 / np.power(ranks + offset, exponent)
    normalized: np.ndarray = weights / weights.sum()
    return normalized


def _candidates(rng: np.random.Generator, n: int) -> list[str]:
    surname = rng.choice(np.array(SURNAMES), n)
    surname2 = rng.choice(np.array(SURNAMES), n)
    given = rng.choice(np.array(GIVEN_NAMES), n)
    brand = rng.choice(np.array(BRAND_WORDS), n)
    kind = rng.choice(np.array(BUSINESS_KINDS), n)
    i1, i2 = rng.choice(_INITIALS, n), rng.choice(_INITIALS, n)
    pattern = rng.choice(6, n, p=[0.18, 0.22, 0.14, 0.14, 0.20, 0.12])
    out: list[str] = []
    for k in range(n):
        p = pattern[k]
        if p == 0:
            out.append(f"{surname[k]} {kind[k]}")
        elif p == 1:
            out.append(f"{brand[k]} {kind[k]}")
        elif p == 2:
            out.append(f"{surname[k]}-{surname2[k]} {kind[k]}")
        elif p == 3:
            out.append(f"{given[k]} {surname[k]} {kind[k]}")
        elif p == 4:
            out.append(f"{i1[k]}.{i2[k]}. {surname[k]} {kind[k]}")
        else:
            out.append(f"{brand[k]} {surname[k]} {kind[k]}")
    return out
