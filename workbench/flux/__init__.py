"""Flux imaging: captures of the magnetic transitions (SuperCard Pro, KryoFlux), decoded
in software into sectors, laid out as a sector image with a ddrescue map."""
