"""S3 keys of outputs: the key template setting is checked at start-up, every rendered key before upload."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, load
from store.output_keys import BadKey, check_prefix, render_key

JOB = "c5b9f78e-76d9-4373-9045-59cbf735da9b"


@pytest.mark.parametrize("template", [
    "/{prefix}/{filename}", "{prefix}/../{filename}", "{prefix}/{job_id}", "{prefix}/{secret}/{filename}",
    "{filename}{", "{prefix}/{job_id!r}/{filename}", "a\n{filename}", "{filename}" + "x" * 300, "",
])
def test_bad_template_stops_start_up_naming_the_variable(template: str) -> None:
    with pytest.raises(SettingsError, match="OUTPUT_KEY_TEMPLATE"):
        load({"OUTPUT_KEY_TEMPLATE": template})


@pytest.mark.parametrize(("template", "prefix", "key"), [
    ("{prefix}/{job_id}/{filename}", "a/b", f"a/b/{JOB}/x.png"),
    ("{prefix}/{job_id}/{filename}", "", f"{JOB}/x.png"),  # no prefix: no empty segment
    ("out/{node_id}_{index}_{filename}", "ignored", "out/9_3_x.png"),
])
def test_keys_follow_the_template(template: str, prefix: str, key: str) -> None:
    assert render_key(template, prefix=prefix, job_id=JOB, filename="x.png", index=3, node_id="9") == key


@pytest.mark.parametrize(("filename", "node_id"), [("..", "9"), ("a\rb.png", "9"), ("x" * 1100, "9"),
                                                   ("x.png", "..")])
def test_unsafe_rendered_key_is_refused(filename: str, node_id: str) -> None:
    with pytest.raises(BadKey):
        render_key("{prefix}/{node_id}/{filename}", prefix="p", job_id=JOB, filename=filename, index=0,
                   node_id=node_id)


def test_prefix_keeps_its_place() -> None:
    assert check_prefix("a/b/") == "a/b"
    for hostile in ("../a", "a/../b", "/a", "a//b", "a/.", "a\\b", "{job_id}"):
        with pytest.raises(BadKey):
            check_prefix(hostile)
