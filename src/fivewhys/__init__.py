"""fivewhys: draft five-whys root-cause reports for red e2e runs against Cloud Run."""

__version__ = "0.1.0"
