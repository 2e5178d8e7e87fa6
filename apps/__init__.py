"""Front ends of shapecorr built only on its public API (the desktop viewer)."""
