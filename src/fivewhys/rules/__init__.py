"""The rule format, its loader and its matcher."""
