"""Secrets never reach disk or the terminal: not on error paths, not in a base URL's password."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentloom.secrets import REDACTED, redact, redact_text, register_secret
from tests.cliutil import run_cli
from tests.fakeserver import FakeOpenAIServer, Reply

KEY = "lk-9f8e7d6c5b4a39281706"
PASSWORD = "Pw-Zq81xTT93kk"


def _stored_bytes(home: Path) -> bytes:
    """Everything agentloom wrote under its home (databases, WAL files, checkpoints, reports)."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


@pytest.mark.parametrize(
    "text",
    ["sk-abcdefghijklmnop", "Bearer abcdefghijkl", "tvly-abcdefghijkl", "AIzaSyA1234567890abcdefghij",
     "gsk_abcdefghijklmnop", "hf_abcdefghijklmnop", "ghp_abcdefghijklmnopqrstuvwx", "xai-abcdefghijklmnop"],
)
def test_well_known_key_shapes_are_redacted(text: str) -> None:
    assert redact_text(f"the key was {text}, sadly") == f"the key was {REDACTED}, sadly"


def test_registered_values_url_passwords_and_secret_keys_are_redacted() -> None:
    register_secret("plain-literal-value-123")
    register_secret("http://alice:url-pass-4455@10.0.0.1:8080/v1")
    text = "plain-literal-value-123 at http://bob:other-pass-77@host/v1 and url-pass-4455 again"
    assert redact_text(text) == f"{REDACTED} at http://bob:{REDACTED}@host/v1 and {REDACTED} again"
    assert redact({"api_key": "anything", "nested": [{"Authorization": "x"}], "model": "gpt"}) == {
        "api_key": REDACTED, "nested": [{"Authorization": REDACTED}], "model": "gpt"}
    register_secret("http://host-without-password/v1")
    assert redact_text("http://host-without-password/v1") == "http://host-without-password/v1"


def test_a_401_that_echoes_the_key_stores_and_prints_no_key(
    openai_server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    loom_home: Path,
) -> None:
    monkeypatch.setenv("ECHOED_KEY", KEY)
    openai_server.responder = lambda body: Reply(status=401, error=f"Incorrect API key provided: {KEY}")
    code, out, err = run_cli(["ask", "How deep is the harbour?", "--model", "served", "--base-url",
                              openai_server.base_url, "--api-key-env", "ECHOED_KEY"], capsys)
    assert code != 0
    assert openai_server.requests, err
    assert KEY not in out + err
    assert KEY.encode() not in _stored_bytes(loom_home)
    run_id = _last_run_id(capsys)
    code, out, err = run_cli(["runs", "show", run_id], capsys)
    assert KEY not in out + err and REDACTED in out


def test_a_password_in_the_base_url_is_never_written(
    openai_server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], loom_home: Path
) -> None:
    openai_server.responder = lambda body: Reply(text="The harbour is 14 m deep.")
    url = openai_server.base_url.replace("http://", f"http://loom:{PASSWORD}@")
    code, out, err = run_cli(["research", "How deep is the harbour?", "--model", "served", "--base-url", url,
                              "--price", "0,0", "--json"], capsys)
    assert PASSWORD not in out + err and REDACTED in out + err  # the URL is shown, its password is not
    stored = _stored_bytes(loom_home)
    assert stored and PASSWORD.encode() not in stored
    openai_server.responder = lambda body: Reply(status=500, error="down")
    code, out, err = run_cli(["ask", "Why?", "--model", "served", "--base-url", url], capsys)
    assert PASSWORD not in out + err
    assert PASSWORD.encode() not in _stored_bytes(loom_home)


def _last_run_id(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run_cli(["runs", "list"], capsys)
    found = re.findall(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b", out)
    assert found, out
    return found[0]
