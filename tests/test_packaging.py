"""The wheel carries the YAML libraries: build it, install it into a fresh venv, load from there."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_built_wheel_ships_paradigms_personas_and_report_templates(tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    wheel = next(dist.glob("madebate-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Install the wheel alone into the fresh venv; its dependencies come from this test's
    # environment through a plain path entry (not a site dir, so the editable checkout's own
    # .pth hook is not processed and cannot shadow the wheel).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    (target / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = (
        "import madebate, pathlib;"
        "from madebate import load_paradigm, load_persona_library, builtin_paradigms;"
        "print(pathlib.Path(madebate.__file__).resolve());"
        "print(load_paradigm('debate').source);"
        "print(load_persona_library('general').personas[0].name);"
        "print(','.join(builtin_paradigms()));"
        "from madebate.report._html import TEMPLATES_DIR, STATIC_DIR;"
        "print(TEMPLATES_DIR.resolve());"
        "print(','.join(sorted(p.name for p in TEMPLATES_DIR.glob('*.j2'))));"
        "print(','.join(sorted(p.name for p in STATIC_DIR.iterdir())))"
    )
    out = subprocess.run(
        [str(python), "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout.splitlines()
    assert out[0].startswith(str(target.resolve())), out
    assert out[1].startswith(str(target)) and out[1].endswith(
        "madebate/_data/paradigms/debate.yaml"
    )
    assert out[2] == "Critical Thinker"
    assert out[3].split(",") == ["collective_refinement", "debate", "memory", "relay", "report"]
    # The report's templates and its inline CSS and JS are package data too.
    assert out[4].startswith(str(target.resolve()))
    assert out[5].split(",") == [
        "_tables.html.j2",
        "_team.html.j2",
        "_transcript.html.j2",
        "discussion.html.j2",
        "fragment.html.j2",
        "index.html.j2",
        "page.html.j2",
    ]
    assert out[6].split(",") == ["fragment.css", "report.css", "report.js"]
