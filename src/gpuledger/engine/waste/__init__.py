"""GPU waste in GPU-hours and dollars, and the unit costs built on it."""
