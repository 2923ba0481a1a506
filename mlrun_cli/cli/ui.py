"""`mlrun ui`: a local web view of the store's runs, metrics, sweeps and models."""

from __future__ import annotations

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Command, read_tracking_option
from mlrun_cli.errors import MlrunError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlrun_cli.store.base import RunIndex


class UiError(MlrunError):
    """The view cannot be served: the address, or a store it cannot read."""


@click.command(cls=Command)
@click.option(
    "--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)  # fmt: skip
@click.option(
    "--host", default="127.0.0.1", show_default=True,
    help="Address to listen on; any but loopback needs the token.",
)  # fmt: skip
@click.option(
    "--token", metavar="TOKEN", envvar="MLRUN_UI_TOKEN",
    help="The token to require (default: a new random one; env MLRUN_UI_TOKEN).",
)  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the view in a web browser.")
@read_tracking_option
def ui(
    port: int, host: str, token: str | None, open_browser: bool, tracking_uri: str | None
) -> None:
    """Serve a web view of the store: runs, metric charts, comparisons, sweeps, models.

    It reads the store a command would use. On loopback (the default) reading needs no
    token; deleting, restoring and tagging always need the token the page carries. Any
    other --host needs the token for every request: open the URL printed, which carries it.

    Examples:

    \b
      mlrun ui
      mlrun ui --port 8080 --open
      mlrun ui --host 0.0.0.0 --port 5000
    """
    from mlrun_cli.cli.stores import open_runs_store
    from mlrun_cli.store import open_store
    from mlrun_cli.ui.safety import is_loopback, new_token
    from mlrun_cli.ui.server import make_server

    store = open_runs_store(tracking_uri)
    index = store.index()
    if index is None:
        raise UiError(
            f"the store {store.shown} is an MLflow server; open its own UI in a browser "
            f"(mlrun ui reads the embedded store)"
        )
    uri = store.uri
    token = token or new_token()

    def opener() -> RunIndex:  # one read connection per server worker
        opened = open_store(uri).index()
        assert opened is not None
        return opened

    try:
        server = make_server(opener, host, port, token)
    except OSError as exc:
        raise UiError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)"
        ) from None
    bound_port = server.server_address[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}/"
    if not is_loopback(host):
        url += f"?token={token}"
    console.out(f"mlrun ui: {url}")
    console.info(f"serving {store.shown}; Ctrl-C to stop")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        console.info("stopped")
    finally:
        server.server_close()
