import subprocess
import sys

CORE = ["workbench", "workbench.cli", "workbench.config", "workbench.profiles",
        "workbench.devices", "workbench.imaging.engine", "workbench.imaging.rescue",
        "workbench.imaging.sources", "workbench.imaging.mapfile", "workbench.console"]


def test_core_never_imports_textual():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE)
            + "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
