"""The workflow policy shared by the transports and the executors (store/policy.py), and the stored catalog."""

from __future__ import annotations

from typing import Any

import pytest

from store import Store
from store.policy import NodeCatalog, NodeLists, PolicyViolation, WorkflowPolicy, is_plain_file_name


@pytest.mark.parametrize("name", ["a.png", "photo 1 (2).png", "été.webp", "x[1].png", "-x.png", "~x.png"])
def test_plain_file_names(name: str) -> None:
    assert is_plain_file_name(name)


@pytest.mark.parametrize("name", ["", ".", "..", "/etc/x.png", "a/b.png", "a\\b.png", "../x.png", "x..png",
                                  "x.png [output]", "x.png[input]", "x.png [temp] ", "a\x00.png", "a\n.png",
                                  "a\x7f.png", "a\x85.png"])
def test_names_that_are_not_plain(name: str) -> None:
    assert not is_plain_file_name(name)


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def violation(policy: WorkflowPolicy, workflow: dict[str, Any], own: tuple[str, ...] = ()) -> dict[str, str]:
    with pytest.raises(PolicyViolation) as caught:
        policy.check(workflow, own)
    return caught.value.details


def test_own_images_pass_only_when_they_are_plain_names() -> None:
    policy = WorkflowPolicy()
    policy.check({"1": node("LoadImage", image="mine.png")}, ("mine.png",))
    assert violation(policy, {"1": node("LoadImage", image="../x.png")}, ("../x.png",))["input"] == "image"


def test_a_deeply_nested_value_is_walked_without_recursion() -> None:
    value: Any = "/etc/x.png"
    for _ in range(5000):
        value = [value]
    assert violation(WorkflowPolicy(), {"7": node("LoadImageSetNode", images=value)})["node_id"] == "7"


def test_catalog_decides_which_inputs_name_files() -> None:
    catalog = NodeCatalog(file_inputs={"MyLoader": ("path",), "LoadImage": ("image",)})
    flow = {"1": node("MyLoader", path="/srv/x")}
    WorkflowPolicy().check(flow, ())  # unknown without the catalog
    assert violation(WorkflowPolicy(catalog=catalog), flow) == {"node_id": "1", "class_type": "MyLoader",
                                                                  "input": "path"}


def test_node_lists_parse_trims_and_ignores_empty_items() -> None:
    lists = NodeLists.parse(" A , B,,", "")
    assert lists.deny == {"A", "B"} and lists.allow is None
    assert NodeLists.parse("", " ,").allow is None


def test_allowlist_leaves_not_installed_types_to_comfyui_once_the_catalog_is_known() -> None:
    lists = NodeLists.parse(allowlist="SaveImage")
    flow = {"1": node("Missing"), "2": node("SaveImage")}
    assert violation(WorkflowPolicy(lists=lists), flow)["class_type"] == "Missing"
    WorkflowPolicy(lists=lists, catalog=NodeCatalog(file_inputs={"SaveImage": ()})).check(flow, ())


def test_denylist_wins_over_allowlist() -> None:
    policy = WorkflowPolicy(lists=NodeLists.parse("SaveImage", "SaveImage"))
    assert violation(policy, {"3": node("SaveImage")}) == {"node_id": "3", "class_type": "SaveImage"}


def test_the_store_keeps_one_catalog_and_rewrites_it_only_when_it_changed(store: Store) -> None:
    assert store.node_catalog() is None and store.node_catalog_digest() is None
    catalog = NodeCatalog(file_inputs={"LoadImage": ("image",), "SaveImage": ()})
    assert store.put_node_catalog(catalog) is True
    assert store.put_node_catalog(catalog) is False
    stored = store.node_catalog()
    assert stored is not None and stored[1] == catalog and stored[0] == store.node_catalog_digest()
    assert store.put_node_catalog(NodeCatalog(file_inputs={"LoadImage": ("image",)})) is True
    assert store.node_catalog_digest() != stored[0]


@pytest.mark.parametrize("value", [["9", 0], [["9", 0]], {"image": ["9", 0]}])
def test_a_link_into_a_file_naming_input_is_refused(value: Any) -> None:
    """An "any"-typed node's string output would pass ComfyUI's type check there and name any file."""
    flow = {"9": node("AnyStringNode", text="/srv/secret.png"), "1": node("LoadImage", image=value)}
    assert violation(WorkflowPolicy(), flow) == {"node_id": "1", "class_type": "LoadImage", "input": "image"}


def test_a_link_into_an_ordinary_input_is_fine() -> None:
    WorkflowPolicy().check({"1": node("LoadImage", image="a.png"), "2": node("ImageInvert", image=["1", 0])}, ())
