"""Which inputs name files, read from /object_info entries shaped as the real ComfyUI 0.3.64 answers them."""

from __future__ import annotations

import pytest

from executor.node_catalog import parse

OBJECT_INFO = {  # copied from a real /object_info (shared/comfyui-protocol/object_info.json), trimmed
    "LoadImage": {"input": {"required": {"image": [["a.png"], {"image_upload": True}]}}},
    "LoadImageOutput": {"input": {"required": {"image": ["COMBO", {
        "image_upload": True, "image_folder": "output",
        "remote": {"route": "/internal/files/output", "refresh_button": True}}]}}},
    "LoadVideo": {"input": {"required": {"file": ["COMBO", {"multiselect": False, "options": [],
                                                            "video_upload": True}]}}},
    "Load3D": {"input": {"required": {"model_file": [[], {"file_upload": True}], "image": ["LOAD_3D", {}],
                                      "width": ["INT", {"default": 1024}]}}},
    "WebcamCapture": {"input": {"required": {"image": ["WEBCAM", {}], "width": ["INT", {}]}}},
    "LoadLatent": {"input": {"required": {"latent": [[]]}}},
    "KSampler": {"input": {"required": {"seed": ["INT", {"control_after_generate": True}]}}},
    "VHS_LoadVideo": {"input": {"required": {"video": [["v.mp4"], {"videoupload": True}]},
                                "optional": {"meta": ["STRING", {}]}}},
    "Odd": {"input": "not an object"},
}


def test_upload_flags_file_widgets_and_core_loaders_name_files() -> None:
    files = parse(OBJECT_INFO).file_inputs
    assert files["LoadImage"] == files["LoadImageOutput"] == ("image",)
    assert files["LoadVideo"] == ("file",) and files["VHS_LoadVideo"] == ("video",)
    assert files["Load3D"] == ("model_file", "image") and files["WebcamCapture"] == ("image",)
    assert files["LoadLatent"] == ("latent",)  # no flag: from the built-in list
    assert files["KSampler"] == () and files["Odd"] == ()


@pytest.mark.parametrize("body", [None, [], {}, "text"])
def test_a_body_that_is_no_catalog_is_an_error(body: object) -> None:
    with pytest.raises(ValueError, match="object_info"):
        parse(body)
