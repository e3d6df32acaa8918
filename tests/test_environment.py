"""The install story: pyproject's ranges, the lock, environment.yml, the Makefile and CI agree,
and the `cpu` extra resolves to wheels on every platform a learner brings."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
#: Colab's 2026 runtime (tests/hosted/colab-2026-08.txt): the lower bounds must admit it.
COLAB_2026 = {
    "keras": "3.13.2",
    "numpy": "2.1.3",
    "ipywidgets": "7.7.1",
    "pandas": "2.2.3",
    "scikit-learn": "1.6.1",
    "scikit-image": "0.25.2",
    "matplotlib": "3.10.0",
    "pillow": "11.3.0",
    "scipy": "1.16.3",
    "h5py": "3.16.0",
    "seaborn": "0.13.2",
    "tqdm": "4.67.3",
}
#: Where learners install it: uv's names for the platforms (macOS arm64, Windows x86-64, Linux).
PLATFORMS = {
    "macos-arm64": "aarch64-apple-darwin",
    "windows-x86_64": "x86_64-pc-windows-msvc",
    "linux-x86_64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
}
#: Which TensorFlow the `cpu` extra must choose there (macOS has no tensorflow-cpu wheel).
TENSORFLOW_FOR = {
    "macos-arm64": "tensorflow",
    "windows-x86_64": "tensorflow-cpu",
    "linux-x86_64": "tensorflow-cpu",
    "linux-aarch64": "tensorflow",
}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def lock_pins() -> dict[str, list[tuple[str, str]]]:
    """name → [(version, marker)] from requirements.lock."""
    pins: dict[str, list[tuple[str, str]]] = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)(?: ; (.*))?$", line)
        if match:
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            pins.setdefault(name, []).append((match[2], match[3] or ""))
    return pins


def uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def run_uv(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([uv(), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    if done.returncode and re.search(r"(?i)failed to fetch|dns|network|connect", done.stderr):
        pytest.skip(f"the package registry cannot be reached: {done.stderr.strip()[-200:]}")
    return done


def test_dependencies_are_ranges_that_admit_colab_and_leave_tensorflow_to_an_extra():
    project = pyproject()["project"]
    requirements = {Requirement(r).name: Requirement(r) for r in project["dependencies"]}
    for name, version in COLAB_2026.items():
        assert requirements[name].specifier.contains(version), f"{name} {version} excluded"
    assert not any("==" in r for r in project["dependencies"]), "exact pins belong in the lock"
    assert not any(name.startswith("tensorflow") for name in requirements)
    extras = project["optional-dependencies"]
    assert {Requirement(r).name for r in extras["cpu"]} == {"tensorflow-cpu", "tensorflow"}
    assert [Requirement(r).name for r in extras["gpu"]] == ["tensorflow"]
    assert "and-cuda" in extras["gpu"][0]


def test_the_lock_says_its_command_and_pins_within_the_ranges():
    lines = LOCK.read_text().splitlines()
    makefile = (ROOT / "Makefile").read_text()
    command = re.search(r"^LOCK_COMMAND := (.*)$", makefile, re.M)[1]
    assert lines[1].strip("# ") == command, "the lock's header is not `make lock`'s command"
    pins = lock_pins()
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    for text in project["dependencies"] + extras["notebooks"] + extras["dev"] + extras["site"]:
        requirement = Requirement(text)
        assert requirement.name in pins, f"{requirement.name} missing from requirements.lock"
        for version, _ in pins[requirement.name]:
            assert requirement.specifier.contains(version), f"lock {requirement.name}=={version}"
    assert any("sys_platform == 'darwin'" in marker for _, marker in pins["tensorflow"])
    assert pins["tensorflow-cpu"], "the lock has no tensorflow-cpu"


def test_environment_yml_installs_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.13" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-r requirements.lock", "-e ."]


def test_setup_and_ci_install_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert '-c requirements.lock -e ".[$(TF),notebooks,dev,site]"' in makefile
    assert "$(STAMP): pyproject.toml requirements.lock" in makefile
    assert "make test" in (ROOT / ".ci/run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
    assert "tests/test_site_browser.py" in makefile


@pytest.mark.slow
def test_the_lock_is_current_with_pyproject(tmp_path):
    """Re-running the lock's own command (against a copy) changes nothing: pyproject.toml and
    requirements.lock say the same thing. Needs the package registry."""
    copy = tmp_path / "requirements.lock"
    shutil.copy(LOCK, copy)
    command = LOCK.read_text().splitlines()[1].strip("# ").split()
    assert command[:3] == ["uv", "pip", "compile"]
    args = [*command[1:-1], str(copy)]  # -o <the copy>
    done = run_uv(*args, "--no-header")
    assert done.returncode == 0, done.stderr
    body = [line for line in LOCK.read_text().splitlines() if not line.startswith("# ")][0:]
    fresh = [line for line in copy.read_text().splitlines() if not line.startswith("# ")]
    assert fresh == body, "requirements.lock is out of date: run `make lock`"


@pytest.mark.slow
@pytest.mark.parametrize("python", ["3.11", "3.13"])
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_the_cpu_extra_resolves_to_wheels_on_every_platform(platform, python):
    """`pip install "tchexnet[cpu]"` on a Mac, Windows and Linux: every package has a wheel
    there (no sdist builds), and the TensorFlow is the one that exists there."""
    done = run_uv(
        "pip",
        "compile",
        "pyproject.toml",
        "--extra",
        "cpu",
        "--python-platform",
        PLATFORMS[platform],
        "--python-version",
        python,
        "--only-binary",
        ":all:",
        "--no-header",
        "--no-annotate",
        "--quiet",
    )
    assert done.returncode == 0, f"{platform}, Python {python}: {done.stderr.strip()[-800:]}"
    names = {line.split("==")[0].lower() for line in done.stdout.splitlines() if "==" in line}
    wanted = TENSORFLOW_FOR[platform]
    assert wanted in names and ({"tensorflow", "tensorflow-cpu"} - {wanted}).isdisjoint(names)


def test_makefile_takes_the_newest_supported_python_first():
    makefile = (ROOT / "Makefile").read_text()
    assert "for p in python3.13 python3.12 python3.11 python3" in makefile
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in makefile
    chosen = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "--eval=print-python: ; @echo $(PYTHON)", "print-python"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    version = subprocess.run(
        [chosen, "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "True", chosen


def test_importing_the_library_has_no_side_effects():
    """No TensorFlow, seeds or styles on import: a fresh interpreter proves it."""
    code = (
        "import sys, tchexnet_lib.config, tchexnet_lib.labels, tchexnet_lib.data, "
        "tchexnet_lib.images, tchexnet_lib.models, tchexnet_lib.evaluation, "
        "tchexnet_lib.synthetic, tchexnet_lib.tools.cli\n"
        "print('tensorflow' in sys.modules, 'matplotlib.pyplot' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_without_tensorflow_the_library_imports_and_first_use_names_the_extra():
    """TensorFlow hidden from a fresh interpreter: the library imports; building a model, the
    command and set_seed each stop with one line naming the extra."""
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tensorflow':\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\", name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from tchexnet_lib import config, errors, models\n"
        "from tchexnet_lib.tools import cli\n"
        "for call in (models.build_chexnet, config.set_seed):\n"
        "    try:\n"
        "        call()\n"
        "    except errors.MissingTensorFlowError as error:\n"
        "        print(str(error))\n"
        "print('exit', cli.main(['predict', 'x.png']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[2] == f"exit {2}", result.stdout + result.stderr
    for line in lines[:2]:
        assert line.startswith("TensorFlow is not installed") and "tchexnet[cpu]" in line
    assert "tchexnet: error: TensorFlow is not installed" in result.stderr
    assert 'pip install "tchexnet[cpu]"' in result.stderr


def test_the_pre_commit_hooks_run_the_pinned_ruff():
    """pre-commit's ruff is the version the dev extra pins, so a hook and `make lint` agree."""
    pinned = re.search(r'"ruff==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert re.search(r"ruff-pre-commit\n\s+rev: v([0-9.]+)", hooks).group(1) == pinned
    assert "make lint" in (ROOT / ".ci" / "run").read_text()
