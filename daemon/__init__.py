"""cmpd, cmp's daemon."""
