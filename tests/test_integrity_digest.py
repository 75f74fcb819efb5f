"""What is on disk is what ran: a trajectory file's digest covers every byte that defines
the result, its header included; a missing or null digest is an error; files of the
earlier format load only through the documented opt-out ``legacy=True``; an edited
checkpoint is refused, never resumed."""
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import pyscale

FORMAT1 = Path(__file__).parent / "data" / "trajectory_format1.npz"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    problem = pyscale.Problem.power_law(40, 2.0, seed=0)
    traj = pyscale.simulate(problem, "gd", lr=1e-2, steps=500, record=20)
    path = tmp_path_factory.mktemp("digest") / "run.npz"
    pyscale.save_trajectory(traj, path, problem=problem)
    return path


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _edit_header(src, dst, edit):
    members = _members(src)
    header = json.loads(np.load(io.BytesIO(members["header.npy"])).tobytes())
    edit(header)
    members["header.npy"] = _npy(np.frombuffer(json.dumps(header).encode(), np.uint8))
    _write(dst, members)


def _set(path):
    def edit(header):
        node = header
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = {"lr": 0.5, "status": "diverged", "method": "flow",
                          "step": 7}.get(path[-1], "forged")
    return edit


HEADER_EDITS = {
    "meta.lr": _set(("meta", "lr")),
    "meta.status": _set(("meta", "status")),
    "method": _set(("method",)),
    "meta.method": _set(("meta", "method")),
    "meta.problem": lambda h: h["meta"]["problem"].update(seed=99),
    "problem.noise": lambda h: h["problem"].update(noise=0.5),
    "meta.noise": lambda h: h["meta"].update(noise=0.5),
    "meta.resume.step": _set(("meta", "resume", "step")),
    "seed": lambda h: h.update(seed=12),
    "extra": lambda h: h.update(extra={"note": "forged"}),
}


@pytest.mark.parametrize("field", sorted(HEADER_EDITS))
def test_an_edited_header_is_refused(saved, tmp_path, field):
    forged = tmp_path / "forged.npz"
    _edit_header(saved, forged, HEADER_EDITS[field])
    with pytest.raises(ValueError, match="forged.npz.*(digest|checksum)"):
        pyscale.load(forged)


@pytest.mark.parametrize("how", ["deleted", "null", "empty", "deleted-and-byte-flipped"])
def test_a_missing_digest_is_an_error(saved, tmp_path, how):
    members = _members(saved)
    digest_member = next(n for n in members if "digest" in n)
    if how == "null":
        members[digest_member] = _npy(np.zeros(0, np.uint8))
    elif how == "empty":
        members[digest_member] = b""
    else:
        del members[digest_member]
    if how == "deleted-and-byte-flipped":
        data = bytearray(members["col/u.npy"])
        data[-3] ^= 0x01
        members["col/u.npy"] = bytes(data)
    forged = tmp_path / "forged.npz"
    _write(forged, members)
    with pytest.raises(ValueError, match="forged.npz"):
        pyscale.load(forged)


def test_a_flipped_byte_anywhere_is_caught(saved, tmp_path):
    members = _members(saved)
    for name in members:
        if "digest" in name:
            continue
        changed = dict(members)
        data = bytearray(changed[name])
        data[-1] ^= 0x01
        changed[name] = bytes(data)
        forged = tmp_path / "forged.npz"
        _write(forged, changed)
        with pytest.raises(ValueError, match="forged.npz"):
            pyscale.load(forged)


def test_files_of_the_earlier_format_need_the_documented_opt_out(tmp_path):
    with pytest.raises(ValueError, match="legacy=True"):
        pyscale.load(FORMAT1)
    traj = pyscale.load(FORMAT1, legacy=True)
    assert traj.meta["method"] == "gd" and len(traj) > 2
    # the opt-out trusts the old header, not damaged arrays
    members = _members(FORMAT1)
    data = bytearray(members["col/u.npy"])
    data[-3] ^= 0x01
    members["col/u.npy"] = bytes(data)
    _write(tmp_path / "old.npz", members)
    with pytest.raises(ValueError, match="old.npz"):
        pyscale.load(tmp_path / "old.npz", legacy=True)
    # and the command line has the same opt-out
    run = [sys.executable, "-m", "pyscale", "show", str(FORMAT1)]
    refused = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "--legacy" in refused.stderr, refused.stderr
    shown = subprocess.run(run + ["--legacy"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr


def test_the_saved_file_round_trips_every_field(saved):
    traj = pyscale.load(saved)
    again = pyscale.load(saved)
    for name in ("t", "s", "u", "s2", "u2", "loss", "mse"):
        np.testing.assert_array_equal(getattr(traj, name), getattr(again, name))
    assert traj.meta["lr"] == 1e-2 and traj.status == "completed"


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "pyscale", *map(str, argv)],
                          capture_output=True, text=True, timeout=120)


LONG = ["simulate", "--d", "2000", "--a", "2", "--method", "gd", "--lr", "1e-2", "--steps",
        "30000000", "--no-progress"]


@pytest.fixture(scope="module")
def partial_checkpoint(tmp_path_factory):
    """The CLI's checkpoint of a run stopped by Ctrl-C part-way (resumable)."""
    import signal
    import time
    path = tmp_path_factory.mktemp("ckpt") / "run.npz"
    proc = subprocess.Popen([sys.executable, "-m", "pyscale", *LONG, "--checkpoint",
                             str(path)], stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and path.is_file(), err
    traj = pyscale.load(path)
    assert traj.status == "interrupted" and 0 < traj.meta["last_step"] < 30000000
    return path


@pytest.mark.parametrize("edit", ["status-completed", "resume-step", "lr"])
def test_an_edited_checkpoint_is_refused_not_resumed(partial_checkpoint, tmp_path, edit):
    ck = tmp_path / "run.npz"
    mutate = {"status-completed": lambda h: h["meta"].update(status="completed",
                                                             last_step=30000000),
              "resume-step": lambda h: h["meta"]["resume"].update(step=29999999),
              "lr": lambda h: h["meta"].update(lr=0.02)}[edit]
    _edit_header(partial_checkpoint, ck, mutate)
    edited = ck.read_bytes()
    proc = _cli(*LONG, "--checkpoint", ck)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(ck) in lines[0] and "Traceback" not in proc.stderr
    assert ck.read_bytes() == edited  # left untouched
