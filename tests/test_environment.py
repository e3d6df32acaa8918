"""The install story: pyproject, environment.yml, Makefile and CI say the same thing."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_pins_what_pyproject_pins():
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    expected = set(project["dependencies"]) | set(extras["cpu"] + extras["notebooks"] + extras["dev"]
                                                   + extras["site"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.13" in env["dependencies"]
    assert pyproject()["project"]["requires-python"] == ">=3.11,<3.14"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    assert set(pip) - {"-e ."} == expected


def test_every_dependency_is_pinned_and_cpu_install_has_no_cuda():
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    for requirement in project["dependencies"] + sum(extras.values(), []):
        assert "==" in requirement, f"{requirement} is not pinned"
    assert not any("cuda" in r or r.startswith("tensorflow") for r in project["dependencies"])
    assert extras["cpu"] == ["tensorflow-cpu==2.21.0"]


def test_makefile_takes_the_newest_supported_python_first():
    makefile = (ROOT / "Makefile").read_text()
    assert "for p in python3.13 python3.12 python3.11 python3" in makefile
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in makefile
    chosen = subprocess.run(["make", "-s", "-C", str(ROOT), "--eval=print-python: ; @echo $(PYTHON)",
                             "print-python"], capture_output=True, text=True, check=True).stdout.strip()
    version = subprocess.run([chosen, "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == "True", chosen


def test_setup_installs_every_extra_ci_needs():
    """`make setup` installs the site extra too: CI's clean clone builds and tests the site."""
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[$(TF),notebooks,dev,site]"' in makefile
    assert "tests/test_site_browser.py" in makefile


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci/run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_importing_the_library_has_no_side_effects():
    """No TensorFlow, seeds or styles on import: a fresh interpreter proves it."""
    code = (
        "import sys, tchexnet_lib.config, tchexnet_lib.labels, tchexnet_lib.data, "
        "tchexnet_lib.images, tchexnet_lib.models, tchexnet_lib.evaluation, "
        "tchexnet_lib.synthetic, tchexnet_lib.cli\n"
        "print('tensorflow' in sys.modules, 'matplotlib.pyplot' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
