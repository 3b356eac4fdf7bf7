"""Basement mathematics with no model in it (Hermite polynomials, Gauss–Hermite quadrature), imported by
networks, tasks and theory alike."""
