"""``loom ui``: serve the web view of runs on loopback (needs the ``[ui]`` extra)."""

from __future__ import annotations

import click

__all__ = ["ui"]


@click.command("ui")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="TCP port (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; anything but loopback needs --token.")
@click.option("--token", default=None, envvar="LOOM_UI_TOKEN", help="Secret every request must carry (?token=, cookie or Bearer). Env: LOOM_UI_TOKEN.")
@click.option("--home", type=click.Path(file_okay=False), default=None, help="Run store's home (same as `loom --home`).")
@click.option("--model", default=None, help="Model for runs started from the page. Default: $AGENTLOOM_MODEL, else offline.")
@click.option("--corpus", "corpus", multiple=True, type=click.Path(exists=True), help="Corpus folder for runs started from the page (repeatable).")
def ui(port: int, host: str, token: str | None, home: str | None, model: str | None, corpus: tuple[str, ...]) -> None:
    """A local web view: runs to filter, a running run live, timelines, cited reports, export.

    Runs started from the page stream every event live; runs from other processes are followed
    by polling the run store (stored events only, as they are flushed)."""
    from agentloom._paths import loom_home, set_home
    from agentloom.errors import ConfigError
    from agentloom.web import check_host

    if home is not None:
        set_home(home)
    refusal = check_host(host, token)
    if refusal:
        raise click.UsageError(refusal)
    try:
        import uvicorn

        from agentloom.web.app import UiSettings, create_app
    except ImportError as exc:
        raise ConfigError(f"loom ui needs the ui extra ({exc.name} is missing): pip install 'agentloom[ui]'") from None
    from agentloom.research.run import corpus_paths

    app = create_app(UiSettings(home=loom_home(), token=token, model=model, corpus=corpus_paths(list(corpus)) if corpus else []))
    shown = f"http://{host if ':' not in host else f'[{host}]'}:{port}/" + (f"?token={token}" if token else "")
    click.echo(f"loom ui on {shown} (Ctrl-C to stop)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
