"""`fivewhys analyze` as the CLI runs it, writing the Markdown and the JSON report of one analysis.

    python -m bench.analyze RESULTS --logs LOGS --out DIR

The same calls as `fivewhys analyze` (settings from the working directory, `pipeline.analyze`,
`pipeline.render`), with both formats rendered from the one analysis rather than analysing twice.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.analyze")
    parser.add_argument("results", type=Path)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from fivewhys.config import load_settings
    from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

    settings = load_settings(Path.cwd())
    report = analyze(Analysis(results=[args.results], logs=[args.logs], settings=settings))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rca.json").write_text(render(report, OutputFormat.JSON), encoding="utf-8")
    (args.out / "rca.md").write_text(render(report, OutputFormat.MARKDOWN), encoding="utf-8")


if __name__ == "__main__":
    main()
