"""``comfyui-worker``: the daemon's command line. Each command's module is imported only when it runs."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from config import lean
from config.settings import Settings, SettingsError, load

# command -> (module with `add_arguments(parser)` and `main(settings, args) -> int`, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("store.migrate_command", "create or upgrade the job store at SQLITE_DB_PATH, then exit"),
    "executor": ("executor.main", "run one executor: claim jobs and run them on one ComfyUI"),
    "forwarder": ("executor.remote.main", "run the jobs the overflow policy picks on RUNPOD_OVERFLOW_ENDPOINT_ID"),
    "run": ("supervisor.main", "the whole daemon: ComfyUI, executors and the transport, supervised"),
    "http": ("transports.http.main", "serve the HTTP API on API_HOST:API_PORT against SQLITE_DB_PATH"),
    "runpod": ("transports.runpod.main", "be a RunPod serverless worker (SERVE_API_LOCALLY: its local API)"),
    "webhooks": ("transports.webhooks.main", "deliver the webhook events of the store's outbox (HTTP mode)"),
    "submit": ("transports.client.submit_command", "send a workflow to a running daemon; --wait follows it"),
    "keys": ("config.keys_command", "add, list or revoke the named API keys of API_KEYS_FILE"),
    "backup": ("store.backup_command", "copy SQLITE_DB_PATH to PATH, consistently, while the daemon runs"),
}


def _parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the selected command's module is imported (for its flags): a child process of the
    daemon does not pay for importing every other command's framework."""
    parser = argparse.ArgumentParser(
        prog="comfyui-worker",
        description="A durable job service around ComfyUI. Configuration comes from environment variables "
        "(see README.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(module=module)
        if name != selected:
            continue
        # a command module may declare flags; it keeps heavy imports (runpod) inside its main()
        adder: Callable[[argparse.ArgumentParser], None] | None = getattr(
            importlib.import_module(module), "add_arguments", None)
        if adder:
            adder(cmd)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = _command(argv)
    args = _parser(selected).parse_args(argv)
    try:
        settings: Settings = load()
    except SettingsError as exc:
        print(f"comfyui-worker: {exc}", file=sys.stderr)
        return 2
    module = importlib.import_module(args.module)
    return int(module.main(settings, args) or 0)


def entry_point() -> None:
    command = _command(sys.argv[1:]) or ""
    lean.hide(command)  # this process is that command: it never imports their extras
    if command == "run":
        lean.hide_openssl(os.environ.get("COMFYUI_URL"))
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
