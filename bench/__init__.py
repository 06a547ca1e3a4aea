"""The benchmark of `fivewhys analyze` at a million log lines: `python -m bench.run`.

Run from the repository root as modules (`python -m bench.<name>`), never as scripts: a script's
directory goes first on `sys.path`, and a module here must not shadow a library of the same name.
"""
