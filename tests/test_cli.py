"""The CLI through typer's runner and as a real subprocess: outputs, JSON, exit codes, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zoo.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_user_manifests(monkeypatch):
    monkeypatch.delenv("ZOO_MANIFESTS", raising=False)


def zoo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, timeout=60)


def test_list_table():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    header, rule, *rows = result.stdout.splitlines()
    assert header.split() == ["name", "task", "input", "classes", "upstream", "measured", "by", "zoo", "targets"]
    row = next(r for r in rows if r.startswith("deeplabv3 "))
    assert "1x513x513x3" in row and "mIoU 69.65% (cpu-uint8)" in row and row.endswith("cpu edgetpu imx93+ imx8mp+")
    assert "mIoU 38.2 -> 38.2 (+0.0), 100 img (cpu-uint8 -> imx8mp)" in row  # zoo's own figures, never mixed in
    row = next(r for r in rows if r.startswith("mobilenet-v2 "))
    assert "image-classification" in row and "top-1 71.8% (tf-float)" in row and "1001" in row
    row = next(r for r in rows if r.startswith("movenet-lightning "))
    assert "pose-estimation" in row and row.endswith("cpu edgetpu imx93+")
    row = next(r for r in rows if r.startswith("coral-deeplabv3 "))  # its cpu file has no pin yet: not published
    assert row.endswith("edgetpu cpu*")
    assert result.stdout.endswith("\n(+ = pinned, built on fetch or served by a mirror; * = artifact not published yet; "
                                  "measured: the reference file -> an int8 file on the same small sample set, by zoo "
                                  "eval; zoo info NAME says how)\n")


def test_list_json_as_subprocess_parses():
    proc = zoo("list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["deeplabv3"]["targets"] == {"published": ["cpu", "edgetpu"], "built_on_fetch": ["imx93", "imx8mp"],
                                            "unpublished": []}
    assert rows["coral-deeplabv3"]["targets"] == {"published": ["edgetpu"], "built_on_fetch": [], "unpublished": ["cpu"]}
    assert rows["deeplabv3-dm1"]["classes"] == 21


def test_info_by_alias_text_and_json():
    text = runner.invoke(app, ["info", "deeplabv3-dm05"])
    assert text.exit_code == 0
    assert text.stdout.startswith("deeplabv3  (deeplabv3-dm05, deeplabv3-mnv2-dm05)")
    assert "sha256 0470d2a782aa54eeeb99d32e7b6b3fb7722905c7c4f5d26bd957ec861366d48b" in text.stdout
    assert "1104 ms  NXP i.MX 8M Plus" in text.stdout
    data = json.loads(runner.invoke(app, ["info", "deeplabv3", "--json"]).stdout)
    assert data["flops"]["ops"] == 1.76e9 and len(data["artifacts"]) == 4


def test_unknown_model_is_one_line_exit_1():
    proc = zoo("info", "resnet")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "error: no model named 'resnet' (`zoo list` shows every model)\n"
    assert len(proc.stderr.splitlines()) == 1


def test_debug_shows_traceback():
    import os
    proc = zoo("info", "resnet", env={**os.environ, "ZOO_DEBUG": "1"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "ModelNotFound" in proc.stderr


def test_usage_error_exits_2():
    proc = zoo("list", "--bogus")
    assert proc.returncode == 2 and "No such option: --bogus" in proc.stderr


def test_validate_all_ok():
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0 and result.stdout == ""
    count = len(list((Path(__file__).parent.parent / "manifests").glob("*.yaml")))
    assert count == 19 and f"{count} of {count} manifest(s) valid" in result.stderr


def test_validate_paths_reports_each_problem(tmp_path, minimal):
    minimal["artifacts"][0]["sha256"] = "x"
    minimal["licence"] = "MIT"
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(minimal))
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{tmp_path / 't.yaml'}: artifacts[0].sha256: sha256 must be 64 lowercase hex characters, got 'x'",
        f"{tmp_path / 't.yaml'}: licence: unknown field; did you mean 'license'? (schema version 2)",
    ]
    data = json.loads(runner.invoke(app, ["validate", str(tmp_path), "--json"]).stdout)
    assert data["checked"] == 1 and data["valid"] == 0 and len(data["problems"]) == 2


def test_targets_table_and_json():
    result = runner.invoke(app, ["targets"])
    assert result.exit_code == 0 and "edgetpu -> cpu" in result.stdout
    data = json.loads(runner.invoke(app, ["targets", "--json"]).stdout)
    assert [t["name"] for t in data] == ["cpu", "edgetpu", "imx8mp", "imx93"]


def test_help_explains_commands():
    proc = zoo("--help")
    assert proc.returncode == 0
    for command in ("list", "info", "validate", "targets"):
        assert command in proc.stdout


def typer_help(columns: int) -> str:
    import os

    proc = subprocess.run([sys.executable, "-c", "from zoo.cli import main; main()", "--help"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": str(columns)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_fast_top_level_help_is_what_typer_prints():
    from zoo.entry import HELP_COLUMNS, HELP_FILE

    assert Path(HELP_FILE).read_text() == typer_help(HELP_COLUMNS), (
        "zoo/cli/help.txt is out of date; regenerate it with: "
        "COLUMNS=80 python -c 'from zoo.cli import main; main()' --help > zoo/cli/help.txt")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_top_level_help_is_answered_before_typer_loads_and_only_where_it_fits(flag):
    import os

    probe = ("import sys; sys.argv = ['zoo', %r]\nfrom zoo.entry import main\ntry: main()\nexcept SystemExit: pass\n"
             "print('TYPER=' + str('typer' in sys.modules))" % flag)

    def run(columns: int) -> list[str]:
        env = {**os.environ, "COLUMNS": str(columns)}
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env).stdout.splitlines()

    wide, narrow = run(120), run(60)
    assert wide == [*typer_help(120).splitlines(), "TYPER=False"]
    assert narrow == [*typer_help(60).splitlines(), "TYPER=True"] and narrow != wide  # typer wraps it narrower


@pytest.mark.parametrize("code", [
    "import zoo; zoo.models(); zoo.get('deeplabv3')",
    "import sys; sys.argv = ['zoo', 'list']; import zoo.cli\ntry: zoo.cli.main()\nexcept SystemExit: pass",
])
def test_catalog_and_cli_do_not_import_tensorflow(code):
    probe = code + "\nimport sys; print('HEAVY=' + ','.join(m for m in ('tensorflow', 'keras', 'ai_edge_litert', 'tflite_runtime') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "HEAVY="


def test_ci_runs_exactly_the_readme_test_command():
    from conftest import REPO

    readme = (REPO / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(readme) == 2 and readme[1].endswith("pytest")
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert [line for line in ci if readme[1] in line] == [f"( {readme[1]} ) | tee \"$log\""]


# One boundary for errors: every known failure is one line and exit 1, whatever raised it.

def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_os_errors_are_one_line_with_a_hint(tmp_path):
    (tmp_path / "file").write_text("x")
    line = one_line(zoo("card", "deeplabv3", "--out", str(tmp_path / "file" / "card.md")))
    assert line.startswith("error: ") and line.endswith("(a part of that path is a file, not a folder)")


def test_output_to_a_folder_creates_it_and_names_the_file(tmp_path):
    proc = zoo("card", "deeplabv3", "-o", f"{tmp_path / 'new'}/")
    assert proc.returncode == 0 and (tmp_path / "new" / "README.md").read_text().startswith("---")


@pytest.mark.parametrize(("name", "value"), [("ZOO_READ_TIMEOUT", "abc"), ("ZOO_CONNECT_TIMEOUT", "nan"),
                                             ("ZOO_MIRRORS", "mirror.example/zoo")])
def test_bad_settings_name_the_variable(tmp_path, name, value):
    import os

    env = {**os.environ, "ZOO_CACHE_DIR": str(tmp_path), name: value}
    line = one_line(zoo("fetch", "deeplabv3", "--target", "cpu", env=env))
    assert name in line and value in line


def test_validate_never_prints_credentials_or_escapes(tmp_path, minimal):
    minimal["artifacts"][0]["sources"] = ["http://alice:hunter2@host/x y", "https://h/\x1b[2Jx"]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(minimal))
    proc = zoo("validate", str(path))
    assert proc.returncode == 1 and "hunter2" not in proc.stdout + proc.stderr and "\x1b" not in proc.stdout + proc.stderr
    assert "http://***@host/x y" in proc.stdout + proc.stderr


def test_tests_run_this_checkout_in_process_and_in_subprocesses(tmp_path):
    import zoo as in_process
    from conftest import REPO

    assert Path(in_process.__file__).resolve().is_relative_to(REPO / "zoo")
    proc = subprocess.run([sys.executable, "-c", "import zoo; print(zoo.__file__)"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert Path(proc.stdout.strip()).resolve().is_relative_to(REPO / "zoo"), proc.stderr


def test_version_help_and_target_usage_errors(tmp_path):
    import os

    assert zoo("--version").stdout.strip().startswith("zoo ") and zoo("-V").returncode == 0
    assert zoo("fetch", "-h").stdout.startswith("Usage: zoo fetch")
    bad = zoo("fetch", "deeplabv3", "--target", "gpu")
    assert bad.returncode == 2 and "unknown target 'gpu'" in bad.stderr
    env = {**os.environ, "ZOO_TARGET": "bogus", "ZOO_CACHE_DIR": str(tmp_path)}
    assert one_line(zoo("fetch", "deeplabv3", env=env)).startswith("error: ZOO_TARGET='bogus' is not a target")
    assert one_line(zoo("inspect", "nothere.tflite")) == ("error: nothere.tflite: no such file "
                                                          "(give the path of a .tflite file, or a model name from `zoo list`)")


@pytest.mark.parametrize("command", ["fetch", "build", "inspect", "bench", "eval", "predict", "publish", "bundle",
                                     "site", "card", "init"])
def test_every_command_that_reports_progress_takes_q(command):
    assert "-q, --quiet" in zoo(command, "-h").stdout


def test_card_and_init_say_what_they_wrote_unless_quiet(tmp_path, coral_tasks):
    """`wrote PATH` is a note on stderr, so -q silences it, as everywhere else."""
    card = zoo("card", "deeplabv3", "-o", f"{tmp_path / 'card'}/")
    assert card.returncode == 0 and card.stderr == f"wrote {tmp_path / 'card' / 'README.md'}\n"
    quiet = zoo("card", "deeplabv3", "-o", str(tmp_path / "card2.md"), "-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and (tmp_path / "card2.md").read_text().startswith("---")
    model = coral_tasks / "mobilenet_v1_0.5_160_quant.tflite"
    init = zoo("init", str(model), "--name", "mine", "--task", "image-classification", "-o", str(tmp_path / "m.yaml"), "-q")
    assert init.returncode == 0, init.stderr
    assert init.stderr == "" and (tmp_path / "m.yaml").read_text().startswith("schema_version: 2")


@pytest.mark.parametrize("command", ["fetch", "inspect", "build", "publish", "validate", "predict", "eval", "bench",
                                     "cache rm", "bundle", "import", "card", "info", "detect"])
def test_usage_lines_and_options_read_like_click(command):
    """No `{NAME}`, `<list[str]>` or `[[PATH]...]...`: arguments by name, options by their metavar."""
    proc = zoo(*command.split(), "-h")
    assert proc.returncode == 0, proc.stderr
    usage = proc.stdout.splitlines()[0]
    assert "{" not in usage and "[[" not in usage and "<" not in proc.stdout, proc.stdout
    assert usage.startswith(f"Usage: zoo {command} [OPTIONS]")


def test_usage_lines_name_their_arguments():
    assert zoo("fetch", "-h").stdout.splitlines()[0] == "Usage: zoo fetch [OPTIONS] NAME[/ARTIFACT]"
    assert zoo("validate", "-h").stdout.splitlines()[0] == "Usage: zoo validate [OPTIONS] [PATH]..."
    assert zoo("predict", "-h").stdout.splitlines()[0] == "Usage: zoo predict [OPTIONS] NAME_OR_FILE IMAGE"
    inspect = " ".join(zoo("inspect", "-h").stdout.split())
    assert "-t, --target TARGET For a model name: whose artifact to inspect (default cpu; auto detects)." in inspect


BLOCKED = ("import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None  # as if the extra were not installed\n"
           "sys.argv = ['zoo', *{args!r}]\nfrom zoo.entry import main\nmain()\n")


@pytest.mark.parametrize(("args", "extra"), [
    (["predict", "deeplabv3", "bird.bmp"], "run"), (["bench", "deeplabv3"], "run"), (["eval", "deeplabv3", "--data", "."], "run"),
    (["build", "deeplabv3", "--target", "imx93"], "build"), (["build", "coral-deeplabv3", "--calibration", "random"], "build")])
def test_a_missing_extra_is_one_line_naming_it(args, extra, tmp_path):
    """As in a virtualenv made with the README's first line (pip install .): no numpy, pillow, LiteRT or TensorFlow."""
    blocked = ["numpy", "PIL", "ai_edge_litert", "tflite_runtime", "tensorflow", "ruamel"]
    proc = subprocess.run([sys.executable, "-c", BLOCKED.format(blocked=blocked, args=args)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert args[0] != "build" or line.startswith("error: zoo build needs the build extra (")
    assert f"pip install '.[{extra}]'" in line, line


def test_card_output_never_writes_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("not zoo's")
    (tmp_path / "card.md").symlink_to(victim)
    proc = zoo("card", "deeplabv3", "-o", str(tmp_path / "card.md"))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "not zoo's" and not (tmp_path / "card.md").is_symlink()
    assert (tmp_path / "card.md").read_text().startswith("---\n")


def test_predict_to_a_file_that_is_not_a_picture_is_a_usage_error_before_any_fetch(tmp_path):
    import os

    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    proc = zoo("predict", "deeplabv3", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out.txt"),
               env={**os.environ, "ZOO_CACHE_DIR": str(tmp_path / "cache"), "ZOO_OFFLINE": "1"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"'{tmp_path / 'out.txt'}' does not end in a picture's extension: .png, .jpg, .jpeg, .bmp, .webp, .tif, .tiff" \
        in proc.stderr
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("command", [["site"], ["build", "deeplabv3"], ["fetch", "deeplabv3"], ["card", "deeplabv3"],
                                     ["bundle", "deeplabv3"], ["predict", "deeplabv3", "photo.jpg"],
                                     ["init", "m.tflite", "--name", "m", "--task", "image-classification"]])
def test_an_empty_output_path_is_a_usage_error_not_the_current_folder(command, tmp_path, monkeypatch):
    """`-o "$OUT"` with OUT unset: `zoo site` rendered the whole catalog into the current folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    result = runner.invoke(app, [*command, "-o", ""])
    assert result.exit_code == 2 and "an empty path; give a file or a folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == []
