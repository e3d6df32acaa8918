"""One wheel holds what a learner needs; `tchexnet notebooks` copies the series without
overwriting a learner's edits; runs in one working folder take turns."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tchexnet_lib import config, files
from tchexnet_lib.tools import hosted, runner
from tests import wheel_support

ROOT = wheel_support.ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return wheel_support.build_wheel(tmp_path_factory.mktemp("dist"))


def test_the_wheel_carries_the_series_the_instructors_page_and_the_demo_chexnet(wheel):
    names = wheel_support.wheel_names(wheel)
    for name in runner.SERIES_FILES:
        assert f"tchexnet_lib/_series/{name}" in names, name
    weights = "tchexnet_lib/_demo_weights/chexnet_demo.weights.h5"
    assert {weights, weights + ".json"} <= names
    assert "tchexnet_lib/synthetic/__init__.py" in names
    assert not any(n.startswith(("tests/", "outputs/", "chexpert/")) for n in names)
    size_mb = wheel.stat().st_size / 1e6
    print(f"wheel: {wheel.name}, {size_mb:.1f} MB")
    assert size_mb < 40


def test_the_installed_copy_finds_its_bundled_files_and_no_checkout(wheel, tmp_path):
    install = wheel_support.install_read_only(wheel, tmp_path / "lib")
    code = (
        "from tchexnet_lib import config, shipped\n"
        "from tchexnet_lib.tools import hosted, runner\n"
        "print(config.checkout_root())\n"
        "print(shipped.shipped_weights())\n"
        "print(runner.notebook_path('01_data_exploration'))\n"
        "print(hosted.repository_url())\n"
    )
    here = tmp_path / "learner"
    here.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=here,
        capture_output=True,
        text=True,
        env=wheel_support.environment(install),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    root, weights, notebook, url = done.stdout.splitlines()
    assert root == "None" and url == hosted.repository_url()  # from the wheel's metadata
    assert Path(weights).is_relative_to(install) and Path(notebook).is_relative_to(install)


def test_notebooks_command_copies_the_series_and_keeps_edited_notebooks(wheel, tmp_path):
    install = wheel_support.install_read_only(wheel, tmp_path / "lib")
    before = wheel_support.snapshot(install)
    here = tmp_path / "learner"
    here.mkdir()
    first = wheel_support.tchexnet(install, here, "notebooks", "--json", timeout=120)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    folder = here / runner.DEFAULT_COPY_DIR
    assert sorted(report["copied"]) == sorted(runner.SERIES_FILES)
    for name in runner.SERIES_FILES:
        assert (folder / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
    edited = folder / runner.SERIES_FILES[0]
    edited.write_text(edited.read_text().replace("# 01", "# 01 (my notes)", 1))
    (folder / runner.SERIES_FILES[1]).unlink()
    second = wheel_support.tchexnet(install, here, "notebooks", timeout=120)
    assert second.returncode == 0, second.stderr
    assert f"kept {runner.SERIES_FILES[0]}: edited here" in second.stdout
    assert "1 copied, 5 already current, 1 kept as edited" in second.stdout
    assert "(my notes)" in edited.read_text()
    assert wheel_support.snapshot(install) == before


def test_copy_series_updates_a_copy_the_learner_did_not_edit(tmp_path):
    """A file an earlier copy wrote, unchanged since, is replaced by the current series."""
    result = runner.copy_series(tmp_path)
    assert len(result.copied) == len(runner.SERIES_FILES)
    page = tmp_path / "README.md"
    page.write_text("an older instructor's page")
    record = files.read_json(tmp_path / runner.COPY_RECORD)
    record["README.md"] = files.sha256_file(page)  # as if an older release had written it
    files.save_json(record, tmp_path / runner.COPY_RECORD)
    again = runner.copy_series(tmp_path)
    assert again.copied == ["README.md"] and not again.kept
    assert page.read_bytes() == (ROOT / "notebooks" / "README.md").read_bytes()


def test_the_working_folder_is_found_upwards_and_tchexnet_home_wins(tmp_path, monkeypatch):
    (tmp_path / config.WORK_FOLDER).mkdir()
    below = tmp_path / "tchexnet-notebooks"
    below.mkdir()
    assert config.find_work_folder(below) == tmp_path / config.WORK_FOLDER
    assert config.find_work_folder(tmp_path.parent) == tmp_path.parent / config.WORK_FOLDER
    monkeypatch.setenv(config.HOME_VARIABLE, str(tmp_path / "elsewhere"))
    assert config.project_root() == tmp_path / "elsewhere"
    assert config.weights_dir() == tmp_path / "elsewhere" / "weights"


LOCK_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tchexnet_lib import files
    folder = Path(sys.argv[1])
    with files.exclusive_lock(folder / ".lock", "the writer in " + sys.argv[1], poll_seconds=0.1):
        out = folder / "result.txt"
        out.write_text("")
        for i in range(20):  # a slow, non-atomic write: interleaved writers would mix lines
            with out.open("a") as handle:
                handle.write(f"{sys.argv[2]} {i}\\n")
            time.sleep(0.02)
        print("done", (out.read_text().splitlines()[0]).split()[0])
""")


def test_two_runs_in_one_folder_take_turns_and_the_second_says_it_waits(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(LOCK_WRITER)
    runs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), name],
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sum("waiting: the writer in" in out for out, _ in outputs) == 1
    lines = (tmp_path / "result.txt").read_text().splitlines()
    assert len(lines) == 20 and len({line.split()[0] for line in lines}) == 1


def test_tchexnet_demo_waits_for_another_demo_in_the_same_folder(tmp_path):
    """The command itself takes the working folder's lock: while it is held, a second
    `tchexnet demo` says it waits (and does nothing meanwhile)."""
    env = {**wheel_support.environment(ROOT), "TCHEXNET_HOME": str(tmp_path / "work")}
    lock, said = tmp_path / "work" / "outputs" / ".demo.lock", tmp_path / "stderr.txt"
    wanted = "waiting: tchexnet demo in outputs is already running"
    with files.exclusive_lock(lock, "the test"), said.open("w") as stderr:
        run = subprocess.Popen(
            [sys.executable, "-m", "tchexnet_lib.tools.cli", "demo", "--no-notebooks"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and run.poll() is None and wanted not in said.read_text():
            time.sleep(0.5)
        run.kill()
        run.wait()
    assert wanted in said.read_text(), said.read_text()
    assert not (tmp_path / "work" / "outputs" / "demo").exists()


CONCURRENT_DEMO = textwrap.dedent("""
    import json
    from tchexnet_lib.tools import demo
    from tests import tiny_demo
    tiny_demo.prepare()
    summary = demo.run_demo(tiny_demo.CONFIG, progress=False).summary
    print(json.dumps({key: summary[key] for key in ("n_test", "positives", "models", "delong")}))
""")


@pytest.mark.slow
def test_two_demos_at_once_in_two_working_folders_give_the_same_numbers(tmp_path):
    """Two learners on one install: the (tiny) demo started twice at once, each in its own
    working folder, finishes twice with the same numbers, each folder holding its own files."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_DEMO],
            cwd=ROOT,
            text=True,
            env={**wheel_support.environment(ROOT), "TCHEXNET_HOME": str(tmp_path / learner)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for learner in ("ada", "alan")
    ]
    outputs = [run.communicate(timeout=1800) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    first, second = (json.loads(out.splitlines()[-1]) for out, _ in outputs)
    assert first == second and first["n_test"] > 0
    for learner in ("ada", "alan"):
        assert (tmp_path / learner / "outputs" / "demo" / "summary.json").is_file()
