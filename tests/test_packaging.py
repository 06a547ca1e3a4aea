"""A non-editable install finds the bundled rules and templates inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_wheel_ships_rules_and_templates_and_uses_them(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("fivewhys-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = sorted(p.name for p in (REPO / "rules").glob("*.yaml"))
    assert rules and all(f"fivewhys/_data/rules/{name}" in names for name in rules)
    assert "fivewhys/_data/templates/report.md.j2" in names
    assert "fivewhys/py.typed" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from fivewhys.rules.loader import bundled_rules_dir, load_rules;"
        "from fivewhys.report.markdown import environment;"
        "print(bundled_rules_dir());"
        "print(len(load_rules([bundled_rules_dir()], collect_errors=False)));"
        "print(environment().get_template('report.md.j2').filename)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(site)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == str(site / "fivewhys" / "_data" / "rules")
    assert out[1] == str(len(rules))
    assert out[2].startswith(str(site / "fivewhys" / "_data" / "templates"))
