"""Greaseweazle capture with a fake `gw` on PATH (a Python script this test writes):
track by track, atomic, resumable, retries into their own files, typed errors."""

from __future__ import annotations

import json
import os
import stat
import struct
import sys
import threading
from pathlib import Path

import pytest

from workbench.errors import Refused
from workbench.flux.capture import (
    CaptureFailed,
    CapturePlan,
    capture,
    capture_files,
    find_gw,
    load_plans,
    next_round,
    scp_readable,
    track_name,
    unfinished_plan,
)
from workbench.profiles import FluxParams

FAKE_GW = r'''#!PYTHON
"""A stand-in for Greaseweazle's gw: writes a small SCP file for one track."""
import json, os, struct, sys, time
args = sys.argv[1:]
log = os.environ["FAKE_GW_LOG"]
with open(log, "a") as fh:
    fh.write(json.dumps(args) + "\n")
opts = dict(zip(args[1:-1:2], args[2:-1:2]))
spec = dict(kv.split("=") for kv in opts["--tracks"].split(":"))
cyl, head = int(spec["c"]), int(spec["h"])
if os.environ.get("FAKE_GW_FAIL") == f"{cyl}:{head}":
    sys.stderr.write("** FATAL ERROR: No Index Timing\n")
    sys.exit(1)
if os.environ.get("FAKE_GW_HANG") == f"{cyl}:{head}":
    time.sleep(60)
if os.environ.get("FAKE_GW_ENOSPC") == f"{cyl}:{head}":  # gw's own words on a full disk
    with open(args[-1], "wb") as fh:
        fh.write(b"SCP")
    sys.stderr.write("OSError: [Errno 28] No space left on device\n")
    sys.exit(1)
revs = int(opts["--revs"])
flux = struct.pack("<100H", *([80] * 100))
tdh = b"TRK" + bytes([cyl * 2 + head])
for r in range(revs):
    tdh += struct.pack("<3I", 8000, 100, 4 + 12 * revs + r * len(flux))
body = tdh + flux * revs
header = bytearray(b"SCP" + bytes([0x19, 0x80, revs, cyl * 2 + head, cyl * 2 + head, 1, 0, 0, 0]))
header += b"\0\0\0\0"
table = [0] * 168
table[cyl * 2 + head] = 0x2B0
header += struct.pack("<168I", *table)
data = bytearray(header + body)
if os.environ.get("FAKE_GW_TORN") == f"{cyl}:{head}":
    data = data[:0x2B0 + 10]
struct.pack_into("<I", data, 12, sum(data[16:]) & 0xFFFFFFFF)
with open(args[-1], "wb") as fh:
    fh.write(data)
'''


@pytest.fixture
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_fake_gw(tmp_path, monkeypatch)


def install_fake_gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FAKE_GW as `gw` first on PATH; returns the log of its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "gw"
    script.write_text(FAKE_GW.replace("PYTHON", sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "gw.log"
    monkeypatch.setenv("FAKE_GW_LOG", str(log))
    return log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


PARAMS = FluxParams(revolutions=3, retry_revolutions=8, cylinders=3, heads=2,
                    double_step=False, drive="B", format="", track_timeout_seconds=20)


def test_every_track_into_its_own_file(gw: Path, tmp_path: Path) -> None:
    seen = []
    result = capture(tmp_path / "job", CapturePlan.first(PARAMS), progress=seen.append)
    files = capture_files(tmp_path / "job")
    assert [f.name for f in files] == [track_name(c, h) for c in range(3) for h in range(2)]
    assert all(scp_readable(f) for f in files) and result.captured == files
    first = calls(gw)[0]
    assert first[:7] == ["read", "--drive", "B", "--revs", "3", "--tracks", "c=0:h=0"]
    assert [p.done for p in seen] == [1, 2, 3, 4, 5, 6] and seen[-1].total == 6
    assert not list((tmp_path / "job" / "flux").glob(".part-*"))
    assert load_plans(tmp_path / "job")[0].done


def test_resume_captures_only_what_is_missing(gw: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    job = tmp_path / "job"
    monkeypatch.setenv("FAKE_GW_FAIL", "1:1")
    with pytest.raises(CaptureFailed) as failed:
        capture(job, CapturePlan.first(PARAMS))
    assert "No Index" in str(failed.value) and "cylinder 1, head 1" in str(failed.value)
    assert len(capture_files(job)) == 3  # 0:0, 0:1, 1:0 kept
    assert unfinished_plan(job) is not None
    (job / "flux" / track_name(0, 1)).write_bytes(b"SCP torn")  # not readable: again
    monkeypatch.delenv("FAKE_GW_FAIL")
    before = len(calls(gw))
    result = capture(job, unfinished_plan(job) or CapturePlan.first(PARAMS))
    again = [c[6] for c in calls(gw)[before:]]
    assert again == ["c=0:h=1", "c=1:h=1", "c=2:h=0", "c=2:h=1"]
    assert len(result.skipped) == 2 and unfinished_plan(job) is None


def test_retry_keeps_every_capture_with_more_revolutions(gw: Path, tmp_path: Path) -> None:
    job = tmp_path / "job"
    capture(job, CapturePlan.first(PARAMS))
    round_ = next_round(job)
    assert round_ == 1
    capture(job, CapturePlan.retry(PARAMS, [(2, 1), (0, 0), (2, 1)], round_))
    retry_calls = calls(gw)[6:]
    assert [(c[4], c[6]) for c in retry_calls] == [("8", "c=0:h=0"), ("8", "c=2:h=1")]
    names = [f.name for f in capture_files(job)]
    assert names[:2] == ["track00.0.scp", "track00.0.r1.scp"]
    assert "track02.1.r1.scp" in names and len(names) == 8
    assert [p.round for p in load_plans(job)] == [0, 1] and next_round(job) == 2


def test_double_step_and_format_hint(gw: Path, tmp_path: Path) -> None:
    params = FluxParams(3, 8, 1, 1, True, "A", "ibm.360", 20)
    capture(tmp_path / "job", CapturePlan.first(params))
    (call,) = calls(gw)
    assert "c=0:h=0:step=2" in call and call[call.index("--format") + 1] == "ibm.360"


def test_torn_file_from_gw_is_not_kept(gw: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_GW_TORN", "0:1")
    with pytest.raises(CaptureFailed):
        capture(tmp_path / "job", CapturePlan.first(PARAMS))
    assert [f.name for f in capture_files(tmp_path / "job")] == ["track00.0.scp"]
    assert not list((tmp_path / "job" / "flux").glob(".part-*"))


def test_hanging_gw_is_stopped_at_its_deadline(gw: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_GW_HANG", "0:0")
    plan = CapturePlan.first(PARAMS)
    plan.timeout = 1.0
    with pytest.raises(CaptureFailed) as failed:
        capture(tmp_path / "job", plan)
    assert failed.value.key == "flux.gw_timeout"
    assert capture_files(tmp_path / "job") == []


def test_cancel_between_tracks(gw: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    result = capture(tmp_path / "job", CapturePlan.first(PARAMS),
                     progress=lambda p: cancel.set() if p.done == 2 else None, cancel=cancel)
    assert result.cancelled and len(capture_files(tmp_path / "job")) == 2
    assert unfinished_plan(tmp_path / "job") is not None


def test_missing_gw_is_a_typed_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(Refused) as refused:
        find_gw()
    assert refused.value.key == "flux.no_gw" and "gw" in str(refused.value)
    with pytest.raises(Refused):
        capture(tmp_path / "job", CapturePlan.first(PARAMS))
    assert not (tmp_path / "job").exists()


def test_scp_readable_checks_structure(tmp_path: Path) -> None:
    path = tmp_path / "x.scp"
    for data in (b"", b"SCP" + bytes(0x2B0), b"XYZ" + bytes(0x300)):
        path.write_bytes(data)
        assert not scp_readable(path)
    header = bytearray(b"SCP" + bytes(13)) + struct.pack("<168I", *([0x2B0] + [0] * 167))
    header[5] = 1
    path.write_bytes(bytes(header) + b"TRK\0" + struct.pack("<3I", 10, 2, 16) + b"\0\x50\0\x50")
    assert scp_readable(path)
    path.write_bytes(bytes(header) + b"TRK\0" + struct.pack("<3I", 10, 50, 16) + b"\0\x50")
    assert not scp_readable(path)  # revolution data past the end
