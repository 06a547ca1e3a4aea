"""Log sources: each turns its input into a LogFrame (see `frame.py`)."""
