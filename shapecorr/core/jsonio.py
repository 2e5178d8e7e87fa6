"""JSON helpers shared by reports and saved matches."""

from __future__ import annotations

import numpy as np


def json_default(o):
    """``json.dumps(..., default=json_default)``: NumPy scalars and arrays become plain JSON."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
