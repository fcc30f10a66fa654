"""Source strings as typed references (zoo/sources.py): each kind's grammar, no I/O."""

from __future__ import annotations

import pytest

from zoo import sources
from zoo.sources import Https, Hub, Member, Oci


@pytest.mark.parametrize("text, ref", [
    ("https://example.com/m/a.tflite", Https("https://example.com/m/a.tflite")),
    ("http://127.0.0.1:8000/a.tflite", Https("http://127.0.0.1:8000/a.tflite")),
    ("hf://owner/repo@0123abc/sub/a.tflite", Hub("owner/repo", "0123abc", "sub/a.tflite")),
    ("oci://127.0.0.1:5000/zoo/m", Oci("127.0.0.1:5000", "zoo/m")),
    ("member://mediapipe-wheel/mediapipe/modules/a.tflite", Member("mediapipe-wheel", "mediapipe/modules/a.tflite")),
])
def test_each_kind_parses_to_its_reference(text, ref):
    assert sources.parse(text) == ref
    assert getattr(ref, "source", text) == text


@pytest.mark.parametrize("text, says", [
    ("ftp://x/y", "source must be an http(s):// URL"),
    ("https://exa mple.com/a", "contains spaces, backslashes or control characters"),
    ("hf://owner/repo/a.tflite", "hf:// source must be hf://owner/repo@revision/path"),
    ("hf://owner/repo@main/../x", "has an unsafe owner, repo, revision or path"),
    ("oci://127.0.0.1:5000/zoo/m:v1", "an oci:// source names a repository, not a tag"),
    ("oci://Registry.example/UPPER/case", "is not REGISTRY/REPOSITORY[:TAG]"),
    ("member://wheel/a/../b", "member source must be member://ARCHIVE-ID/path/in/archive"),
])
def test_a_bad_source_says_what_is_wrong(text, says):
    with pytest.raises(ValueError) as e:
        sources.parse(text)
    assert says in str(e.value)


def test_a_registry_reference_may_carry_a_tag_where_a_source_may_not():
    assert sources.parse_oci("ghcr.io/acme/zoo/m:v1") == Oci("ghcr.io", "acme/zoo/m", "v1")


def test_mirrors_and_places():
    assert sources.mirrored("https://m.example/zoo", "m", "a.tflite") == "https://m.example/zoo/m/a.tflite"
    assert sources.mirrored("oci://127.0.0.1:5000/zoo", "m", "a.tflite") == "oci://127.0.0.1:5000/zoo/m"
    assert sources.same_place("hf://me/pub@new/a.tflite", "hf://me/pub@old/a.tflite")
    assert not sources.same_place("hf://me/pub@new/a.tflite", "hf://me/pub2@old/a.tflite")
    assert sources.same_place("https://m.example/a.tflite", "https://m.example/a.tflite")
    assert not sources.same_place("https://m.example/a.tflite", "https://other.example/a.tflite")
