"""The package as a Python user meets it: `import vis` is cheap, and its public names show in dir() and resolve."""

from __future__ import annotations

import subprocess
import sys

import vis
import vis.engine


def test_import_vis_loads_neither_torch_nor_onnxruntime() -> None:
    code = "import sys, vis; print(sorted({'torch', 'onnxruntime', 'cv2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names_show_in_dir_and_resolve() -> None:
    for module in (vis, vis.engine):
        names = dir(module)
        assert names == sorted(module.__all__)  # tab completion offers the lazy names
        for name in names:
            assert getattr(module, name) is not None
    assert "dream" in dir(vis) and "guide_features_of" in dir(vis.engine)
