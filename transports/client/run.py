"""The body of ``comfyui-worker submit``: submit, follow with a reporter, download, exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from transports.client import submit_command as cmd
from transports.client.errors import ApiError, WaitTimeout
from transports.client.progress import Reporter, reporter
from transports.client.sync import Client


def submit_and_follow(args: argparse.Namespace, workflow: dict[str, Any], images: list[dict[str, str]], *,
                      url: str, api_key: str | None) -> int:
    report = reporter(sys.stdout)
    job_id = None
    try:
        with Client(url, api_key=api_key) as client:
            job_id = client.submit(workflow, images=args.image, extra_images=images, priority=args.priority,
                                   timeout_s=args.timeout)
            report.submitted(job_id)
            if not (args.wait or args.out):
                return cmd.EXIT_COMPLETED
            return _follow(client, report, job_id, args)
    except ApiError as exc:
        return _refused(f"{url}: {exc}")
    except httpx.HTTPError as exc:
        return _refused(f"{url}: {type(exc).__name__}: {exc}")
    except WaitTimeout as exc:
        report.finished(exc.job_id, "timeout", cmd.EXIT_TIMEOUT, exc.last)
        print(f"comfyui-worker submit: {exc}", file=sys.stderr)
        return cmd.EXIT_TIMEOUT
    except KeyboardInterrupt:
        print(f"\ncomfyui-worker submit: interrupted; job {job_id} keeps running", file=sys.stderr)
        return cmd.EXIT_INTERRUPTED


def _follow(client: Client, report: Reporter, job_id: str, args: argparse.Namespace) -> int:
    status = client.wait(job_id, on_progress=report.update, poll_s=args.poll, timeout=args.max_wait)
    if status.status == "completed" and args.out:
        for path in client.download(status, args.out):
            report.output(job_id, path)
    event, code = cmd.outcome(status)
    report.finished(job_id, event, code, status)
    if code != cmd.EXIT_COMPLETED:
        print(f"comfyui-worker submit: job {job_id} {event}: {status.error_message()}", file=sys.stderr)
    return code


def _refused(message: str) -> int:
    print(f"comfyui-worker submit: {message}", file=sys.stderr)
    return cmd.EXIT_API
