"""README "From Python" runs as printed (against the simulator's practice)."""

import os
import re
import subprocess
import sys

from world import ROOT

BINDING = os.path.join(ROOT, "bindings", "python")


def readme_block(section: str, lang: str) -> str:
    text = open(os.path.join(ROOT, "README.md")).read()
    part = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", part, re.S)[-1]


def test_readme_from_python_runs_as_written(world, tmp_path):
    script = tmp_path / "readme.py"
    script.write_text(readme_block("From Python", "python"))
    env = dict(os.environ, VAP_CONFIG=world.conf, PYTHONPATH=BINDING)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("found ") and "Smith" in lines[0]
    assert re.match(r"200 application/\S+ \d+ match\(es\)", lines[1])
    assert lines[2].startswith("Denied 401")
    assert lines[-1] == "within the turn: Bundle"
