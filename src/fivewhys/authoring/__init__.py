"""Rule authoring tools (explain, test fixtures, suggest): they run the analysis on a rule, so
they sit above `whys` and `correlate`, and nothing below imports them."""
