"""``comfyui-worker submit WORKFLOW.json``: queue a job on a running daemon, optionally wait and download.

Exit codes: 0 completed (or submitted, without --wait); 1 failed; 2 usage (bad arguments or file);
3 cancelled; 4 timed out (the job's deadline, or --max-wait); 5 the API refused the request or is unreachable;
130 interrupted (Ctrl-C: the job keeps running).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from config.settings import Settings

EXIT_COMPLETED, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED, EXIT_TIMEOUT, EXIT_API = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow", metavar="WORKFLOW.json", type=Path,
                        help="an API-format workflow, or a request body {workflow, images} / {input: {...}}")
    parser.add_argument("--image", metavar="FILE", type=Path, action="append", default=[],
                        help="an input image, referenced in the workflow by its file name (repeatable)")
    parser.add_argument("--wait", action="store_true", help="follow the job until it ends (progress shown)")
    parser.add_argument("--out", metavar="DIR", type=Path, help="write the outputs here (implies --wait)")
    parser.add_argument("--url", help="the API (default http://API_HOST:API_PORT, 0.0.0.0 as 127.0.0.1)")
    parser.add_argument("--api-key", help="API key (default: API_KEY)")
    parser.add_argument("--priority", type=int, help="higher runs first (default 0)")
    parser.add_argument("--timeout", type=float, metavar="S", help="the job's deadline in seconds")
    parser.add_argument("--max-wait", type=float, metavar="S", help="stop waiting after S seconds (exit 4)")
    parser.add_argument("--poll", type=float, default=0.5, metavar="S", help="seconds between status polls")
    parser.epilog = ("exit codes: 0 completed (or submitted without --wait), 1 failed, 2 usage, 3 cancelled, "
                     "4 timed out, 5 API error or unreachable, 130 interrupted")


def default_url(settings: Settings) -> str:
    host = settings.api_host if settings.api_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.api_port}"


def read_request(path: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(workflow, images already in the file); ValueError when the file is not a workflow."""
    body = json.loads(path.read_text())
    if not isinstance(body, dict):
        raise ValueError("the file must hold a JSON object")
    if isinstance(body.get("input"), dict):  # RunPod's {"input": {...}} (worker-comfyui's test_input.json)
        body = body["input"]
    if isinstance(body.get("workflow"), dict):
        return body["workflow"], list(body.get("images") or [])
    return body, []


def outcome(status: Any) -> tuple[str, int]:
    """(event, exit code) of a finished job."""
    if status.status == "completed":
        return "completed", EXIT_COMPLETED
    if status.status == "cancelled":
        return "cancelled", EXIT_CANCELLED
    if (status.error or {}).get("type") == "timeout":
        return "timeout", EXIT_TIMEOUT
    return "failed", EXIT_FAILED


def main(settings: Settings, args: argparse.Namespace) -> int:
    from transports.client.run import submit_and_follow

    try:
        workflow, images = read_request(args.workflow)
        missing = [str(p) for p in args.image if not p.is_file()]
        if missing:
            raise ValueError(f"no such image: {', '.join(missing)}")
    except (OSError, ValueError) as exc:
        print(f"comfyui-worker submit: {args.workflow}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return submit_and_follow(args, workflow, images, url=args.url or default_url(settings),
                             api_key=args.api_key or settings.api_key)
