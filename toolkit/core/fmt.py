"""Number formatting shared by the report and the plots."""
from __future__ import annotations

from typing import Optional


def human(n: Optional[float]) -> str:
    """135000000 -> '135M', 1.7e9 -> '1.7B', 2.4e21 -> '2.4e21' (FLOPs read better in e-notation)."""
    if n is None:
        return "—"
    n = float(n)
    if abs(n) >= 1e15:
        return f"{n:.2g}".replace("e+", "e")
    for factor, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.3g}{unit}"
    return f"{n:.3g}"
