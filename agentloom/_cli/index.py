"""``loom index DIR [DIR ...]``: build or refresh a corpus index incrementally, with progress.

``IndexProgress`` is the progress reporter (a rich bar on a terminal, a plain line every 10%
otherwise); other commands that build indexes on first use can pass it as ``on_progress``.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, Any

import click

from agentloom._cli._common import follow_symlinks_option

__all__ = ["index", "IndexProgress"]


class IndexProgress:
    """An ``on_progress(done, total, path)`` callback for ``CorpusIndex.refresh``.

    ``mode``: "auto" (live bar on a TTY, plain lines otherwise), "live", "plain" or "quiet".
    Output goes to ``stream`` (stderr by default) so stdout stays clean for results.
    """

    def __init__(self, *, mode: str = "auto", stream: IO[str] | None = None, label: str = "indexing") -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "live" if _isatty(self.stream) else "plain"
        if mode not in ("live", "plain", "quiet"):
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode = mode
        self.label = label
        self._progress: Any = None
        self._task: Any = None
        self._next_pct = 10
        self._started = time.perf_counter()

    def __enter__(self) -> IndexProgress:
        self._started = time.perf_counter()
        if self.mode == "live":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[path]}", style="dim"),
                console=Console(file=self.stream),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None, path="scanning...")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, done: int, total: int, path: str) -> None:
        if self.mode == "live" and self._progress is not None:
            shown = path if len(path) <= 48 else "..." + path[-45:]
            self._progress.update(self._task, completed=done, total=total, path=shown)
        elif self.mode == "plain" and total:
            pct = done * 100 // total
            if pct >= self._next_pct or done == total:
                elapsed = time.perf_counter() - self._started
                self.stream.write(f"{self.label}: {done}/{total} files ({pct}%) {elapsed:.1f}s\n")
                self.stream.flush()
                self._next_pct = (pct // 10 + 1) * 10


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@click.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(), metavar="DIR [DIR ...]")
@click.option(
    "--index",
    "index_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Index file to build or refresh. Default: <home>/index/<name>-<hash>.db.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@follow_symlinks_option
def index(dirs: tuple[str, ...], index_path: str | None, as_json: bool, quiet: bool,
          follow_symlinks: bool | None) -> None:
    """Build or refresh the search index of DIR (folders of .md, .txt and .html files).

    Only new and changed files are re-read; deleted files leave the index. Several folders
    share one index, their paths prefixed by each folder's name.
    """
    from agentloom.tools.corpus import CorpusIndex

    corpus = CorpusIndex(list(dirs), index_path=index_path, follow_symlinks=follow_symlinks)
    if quiet:
        mode = "quiet"
    elif as_json:
        mode = "live" if _isatty(sys.stderr) else "quiet"
    else:
        mode = "auto"
    try:
        with IndexProgress(mode=mode) as progress:
            stats = corpus.refresh(on_progress=progress)
    finally:
        corpus.close()
    roots = [{"name": r.name, "path": str(r.path)} for r in corpus.roots]
    if as_json:
        from agentloom._cli._common import print_json

        print_json({**stats.to_dict(), "roots": roots})
        return
    folders = ", ".join(str(r.path) for r in corpus.roots)
    click.echo(f"index {stats.index_path} ({folders})")
    click.echo(
        f"  {stats.files:,} files: {stats.indexed:,} indexed, {stats.unchanged:,} unchanged, "
        f"{stats.removed:,} removed" + (f", {stats.skipped:,} skipped (unreadable or too large)" if stats.skipped else "")
    )
    click.echo(f"  {stats.passages:,} passages in {stats.seconds:.2f}s")
