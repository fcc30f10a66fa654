"""The manifest index (zoo/catalog.py) with a catalog of a few hundred generated manifests: a command reads and
validates only the files that changed and the one it was asked about, and still sees every edit, addition, removal,
broken file, duplicate name and override at once; the index is a hint that a planted or damaged copy cannot turn
into a wrong answer."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import MINIMAL, REPO
from zoo import catalog, manifest
from zoo.errors import ModelNotFound

COUNT = 300
BUNDLED = len(list((REPO / "manifests").glob("*.yaml")))


def write(folder, name, **changes):
    doc = copy.deepcopy(MINIMAL)
    doc.update(name=name, **changes)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def many(tmp_path, monkeypatch):
    """COUNT generated manifests in ZOO_MANIFESTS, an empty cache for the index, and a counter of manifest parses."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    for i in range(COUNT):
        write(folder, f"m-{i:03d}", description=f"model {i}")
    monkeypatch.setenv("ZOO_MANIFESTS", str(folder))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    parsed = []
    real = manifest.load
    monkeypatch.setattr(manifest, "load", lambda path: parsed.append(path) or real(path))
    fresh()
    catalog.load()  # the first command builds the index
    return folder, parsed


def fresh():
    """As a new process: nothing remembered in memory (the index in the cache stays)."""
    catalog._last[:] = [None, None]
    catalog._parsed.clear()


def test_a_new_process_parses_only_the_model_it_was_asked_for(many):
    folder, parsed = many
    assert len(parsed) == COUNT + len(list(catalog.bundled_dir().glob("*.yaml")))
    parsed.clear()
    fresh()
    cat = catalog.load()
    assert len(cat.names()) == COUNT + BUNDLED and parsed == []  # names, aliases and rows from the index
    rows = {r["name"]: r for r in cat.summaries()}
    assert rows["m-123"] == catalog.summary(manifest.load(folder / "m-123.yaml"))
    parsed.clear()
    assert cat.get("m-042").description == "model 42" and parsed == [folder / "m-042.yaml"]


def test_an_edit_is_seen_by_the_next_command_and_only_the_edited_file_is_read_again(many):
    folder, parsed = many
    write(folder, "m-007", description="edited")
    parsed.clear()
    fresh()
    cat = catalog.load()
    assert parsed == [folder / "m-007.yaml"]
    assert cat.get("m-007").description == "edited" and {r["name"] for r in cat.summaries()} >= {"m-007"}
    proc = subprocess.run([sys.executable, "-m", "zoo", "info", "m-007", "--json"], capture_output=True, text=True,
                          env=os.environ, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["description"] == "edited"


def test_added_and_removed_manifests_are_seen_at_once(many):
    folder, parsed = many
    write(folder, "new-one")
    (folder / "m-010.yaml").unlink()
    fresh()
    cat = catalog.load()
    assert "new-one" in cat.names() and "m-010" not in cat.names()
    with pytest.raises(ModelNotFound):
        cat.get("m-010")
    assert len(json.loads((catalog.memo.path(catalog.Cache(catalog.settings.cache_dir()), catalog.INDEX)).read_text())
               ["files"]) == COUNT + BUNDLED  # the removed file's record went with it


def test_a_broken_manifest_is_reported_hides_nothing_and_is_not_parsed_again(many):
    folder, parsed = many
    (folder / "m-020.yaml").write_text("schema_version: 2\nname: m-020\n")
    fresh()
    cat = catalog.load()
    assert [p.path for p in cat.problems] == [str(folder / "m-020.yaml")] and "m-021" in cat.names()
    assert "m-020" not in cat.names()
    parsed.clear()
    fresh()
    again = catalog.load()
    assert parsed == [] and [p.problems for p in again.problems] == [p.problems for p in cat.problems]
    write(folder, "m-020")
    fresh()
    assert "m-020" in catalog.load().names()


def test_a_name_defined_twice_is_warned_about_and_the_later_file_wins(many):
    folder, parsed = many
    later = write(folder, "zz-copy", description="the later one")
    later.write_text(later.read_text().replace("name: zz-copy", "name: m-005"))
    for _ in range(2):  # once when the index learns it, once from the index
        fresh()
        cat = catalog.load()
        assert cat.warnings == [f"{later}: model 'm-005' overrides the one in {folder / 'm-005.yaml'}"]
        assert cat.get("m-005").description == "the later one"


def test_a_user_manifest_still_overrides_a_bundled_one(many):
    folder, _ = many
    mine = write(folder, "deeplabv3", description="mine")
    for _ in range(2):
        fresh()
        cat = catalog.load()
        assert cat.entry("deeplabv3").path == mine and not cat.entry("deeplabv3").bundled
        assert cat.overrides("deeplabv3")[0].startswith(f"{mine}: model 'deeplabv3' overrides the one in ")
        with pytest.raises(ModelNotFound):
            cat.get("deeplabv3-dm05")  # the bundled aliases went with it


def index_file():
    return catalog.memo.path(catalog.Cache(catalog.settings.cache_dir()), catalog.INDEX)


def test_a_planted_index_cannot_swap_a_model(many):
    """The index says m-001's file defines m-002 (stat keys intact): asking for m-002 reads that file, sees m-001, and
    the catalog is made again from the files: the right manifest, and a repaired index."""
    folder, _ = many
    data = json.loads(index_file().read_text())
    first, second = str(folder / "m-001.yaml"), str(folder / "m-002.yaml")
    data["files"][first], data["files"][second] = ({**data["files"][second], "key": data["files"][first]["key"]},
                                                   {**data["files"][first], "key": data["files"][second]["key"]})
    index_file().write_text(json.dumps(data))
    fresh()
    assert catalog.load().get("m-002").description == "model 2"
    assert json.loads(index_file().read_text())["files"][first]["name"] == "m-001"


@pytest.mark.parametrize("damage", ["[" * 100000, "{\"version\": 1, \"files\": {\"x\": 1}}", "not json", "{\"version\": 99}"])
def test_a_damaged_index_is_ignored_and_replaced(many, damage):
    folder, parsed = many
    index_file().write_text(damage)
    parsed.clear()
    fresh()
    cat = catalog.load()
    assert len(cat.names()) == COUNT + BUNDLED and len(parsed) == COUNT + BUNDLED
    assert json.loads(index_file().read_text())["version"] == catalog.index_version()


def test_list_shows_every_row_from_the_index(many):
    proc = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], capture_output=True, text=True,
                          env=os.environ, timeout=60)
    rows = json.loads(proc.stdout)
    assert proc.returncode == 0 and len(rows) == COUNT + BUNDLED
    assert next(r for r in rows if r["name"] == "m-299") == catalog.summary(manifest.load(many[0] / "m-299.yaml"))


def plant(change):
    """Edit the index in the cache as an attacker would (stat keys left intact), as a new process will find it."""
    data = json.loads(index_file().read_text())
    change(data["files"])
    index_file().write_text(json.dumps(data))
    fresh()


def record_of(files, name):
    return next(rec for rec in files.values() if rec.get("name") == name)


def test_a_planted_alias_cannot_answer_for_another_model(many):
    """coral-deeplabv3's record claims deeplabv3's alias and deeplabv3's record loses it: the alias still answers with
    deeplabv3, and no warning speaks of the planted claim."""
    def change(files):
        record_of(files, "coral-deeplabv3")["aliases"] = ["deeplabv3-dm05"]
        record_of(files, "deeplabv3")["aliases"] = []

    plant(change)
    assert catalog.load().get("deeplabv3-dm05").name == "deeplabv3"
    plant(lambda files: record_of(files, "coral-deeplabv3").update(aliases=["deeplabv3-dm05"]))
    cat = catalog.load()
    assert cat.warnings == [] and cat.get("deeplabv3-dm05").name == "deeplabv3" and cat.overrides("deeplabv3") == []
    assert record_of(json.loads(index_file().read_text())["files"], "coral-deeplabv3")["aliases"] == []


def test_a_planted_override_warns_of_nothing(many):
    folder, _ = many
    plant(lambda files: files[str(folder / "m-007.yaml")].update(name="m-008"))
    cat = catalog.load()
    assert cat.warnings == [] and cat.get("m-008").description == "model 8" and cat.overrides("m-008") == []


def test_a_planted_pin_cannot_relabel_a_file(many):
    """m-003's record claims deeplabv3's pin, which deeplabv3's record drops: the pin is still deeplabv3's alone."""
    pin = catalog.load().get("deeplabv3").artifact("cpu-uint8").sha256

    def change(files):
        record_of(files, "m-003")["pins"] = [pin]
        record_of(files, "deeplabv3")["pins"] = [p for p in record_of(files, "deeplabv3")["pins"] if p != pin]

    plant(change)
    assert [e.name for e in catalog.load().with_pin(pin)] == ["deeplabv3"]
    plant(lambda files: record_of(files, "m-003").update(pins=[pin]))
    assert [e.name for e in catalog.load().with_pin(pin)] == ["deeplabv3"]


def test_a_same_size_edit_within_the_mtime_granularity_is_seen(many):
    """The same size, the mtime set back to the nanosecond, the same inode: only the ctime tells the edit."""
    folder, _ = many
    path = folder / "m-004.yaml"
    catalog.load().get("m-004")
    before = os.stat(path)
    path.write_text(path.read_text().replace("model 4", "model X"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert catalog.load().get("m-004").description == "model X"  # in this process
    fresh()
    assert catalog.load().get("m-004").description == "model X"  # from the index, in a new one


def test_an_index_folder_linked_elsewhere_is_not_written_through(many, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    index = index_file().parent
    for p in index.iterdir():
        p.unlink()
    index.rmdir()
    index.symlink_to(elsewhere, target_is_directory=True)
    write(many[0], "m-new")
    fresh()
    assert "m-new" in catalog.load().names()
    assert os.listdir(elsewhere) == [] and not index.is_symlink() and index_file().is_file()


@pytest.mark.parametrize("name", ["manifests.json", "hits.json"])
def test_an_index_that_is_a_fifo_does_not_hang_a_command(many, name):
    fifo = index_file().parent / name
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    for command in (["list"], ["info", "m-001"], ["fetch", "m-001", "--offline"]):
        proc = subprocess.run([sys.executable, "-m", "zoo", *command], capture_output=True, text=True, env=os.environ,
                              timeout=60)
        assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr


def test_an_unknown_name_says_the_closest_few_not_every_name(many):
    proc = subprocess.run([sys.executable, "-m", "zoo", "info", "m-3000"], capture_output=True, text=True,
                          env=os.environ, timeout=60)
    assert proc.returncode == 1 and proc.stderr == ("error: no model named 'm-3000' (did you mean m-000 or m-230 or "
                                                    "m-200? `zoo list` shows every model)\n")  # not 311 names


def test_validate_reads_every_file_whatever_the_index_says(many):
    """An index whose record calls a broken file valid (planted, or made by a zoo whose schema was more lenient)
    does not change `zoo validate`'s answer."""
    folder, _ = many
    bad = write(folder, "bad", description=None)
    fresh()
    catalog.load()

    def change(files):
        files[str(bad)] = {**files[str(folder / "m-003.yaml")], "name": "bad", "key": files[str(bad)]["key"]}

    plant(change)
    proc = subprocess.run([sys.executable, "-m", "zoo", "validate"], capture_output=True, text=True, env=os.environ,
                          timeout=120)
    assert proc.returncode == 1 and proc.stdout == f"{bad}: description: Input should be a valid string\n", proc.stdout


def test_an_index_made_by_a_more_lenient_zoo_is_not_taken_at_its_word(tmp_path, monkeypatch):
    """The same manifests, the same cache: a zoo whose schema took a NaN metric made the index; this zoo refuses
    that manifest, and its catalog says so rather than listing it from the old record."""
    import shutil

    older = tmp_path / "older"
    shutil.copytree(os.path.dirname(catalog.__file__), older / "zoo", ignore=shutil.ignore_patterns("__pycache__"))
    schema = older / "zoo" / "schema.py"
    schema.write_text(schema.read_text().replace("allow_inf_nan=False", "allow_inf_nan=True"))
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder, "nanny", metrics=[{"name": "acc", "value": float("nan"), "dataset": "d", "split": "s",
                                     "applies_to": MINIMAL["artifacts"][0]["id"], "source": "upstream", "citation": "c"}])
    monkeypatch.setenv("ZOO_MANIFESTS", str(folder))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))

    def names(pythonpath):
        proc = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": pythonpath}, cwd=tmp_path, timeout=120)
        return [r["name"] for r in json.loads(proc.stdout)]

    assert "nanny" in names(str(older))
    assert "nanny" not in names(os.pathsep.join(sys.path))
