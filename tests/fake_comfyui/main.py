"""Run the fake as a process with ComfyUI's command-line shape:

    python tests/fake_comfyui/main.py --listen 127.0.0.1 --port 8188 --input-directory D \
        --output-directory D --temp-directory D --disable-auto-launch [--cpu] [other flags ignored]

Knobs come from the environment: FAKE_COMFYUI_DELAY_MS, FAKE_COMFYUI_PROGRESS_STEPS,
FAKE_COMFYUI_HISTORY_DELAY_MS, FAKE_COMFYUI_STARTUP_DELAY_MS (time before the port opens, like a real
start-up), FAKE_COMFYUI_IGNORE_INTERRUPT=1, FAKE_COMFYUI_VRAM_TOTAL_MB, FAKE_COMFYUI_VRAM_PER_PROMPT_MB,
FAKE_COMFYUI_RSS_PER_PROMPT_MB (execution.Config, memory.py). POST /_fake/crash exits the process at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.append(str(HERE.parent))  # appended: tests/http must not shadow the stdlib `http`

from aiohttp import web  # noqa: E402
from fake_comfyui.execution import Config  # noqa: E402
from fake_comfyui.nodes import Dirs  # noqa: E402
from fake_comfyui.server import FakeComfyServer  # noqa: E402

log = logging.getLogger("fake_comfyui")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="fake ComfyUI")
    parser.add_argument("--listen", nargs="?", const="0.0.0.0", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--base-directory", default=str(HERE))
    parser.add_argument("--input-directory")
    parser.add_argument("--output-directory")
    parser.add_argument("--temp-directory")
    args, _ignored = parser.parse_known_args(argv)
    return args


def directories(args: argparse.Namespace) -> Dirs:
    base = Path(args.base_directory).resolve()
    temp_root = Path(args.temp_directory).resolve() if args.temp_directory else base
    return Dirs(
        Path(args.input_directory).resolve() if args.input_directory else base / "input",
        Path(args.output_directory).resolve() if args.output_directory else base / "output",
        temp_root / "temp",  # ComfyUI appends "temp" to --temp-directory
    )


def config_from_env() -> Config:
    return Config(
        delay_ms=float(os.environ.get("FAKE_COMFYUI_DELAY_MS", 0)),
        progress_steps=int(os.environ.get("FAKE_COMFYUI_PROGRESS_STEPS", 10)),
        history_delay_ms=float(os.environ.get("FAKE_COMFYUI_HISTORY_DELAY_MS", 0)),
        ignore_interrupt=os.environ.get("FAKE_COMFYUI_IGNORE_INTERRUPT", "") == "1",
        vram_total_mb=float(os.environ.get("FAKE_COMFYUI_VRAM_TOTAL_MB", 0)),
        vram_per_prompt_mb=float(os.environ.get("FAKE_COMFYUI_VRAM_PER_PROMPT_MB", 0)),
        rss_per_prompt_mb=float(os.environ.get("FAKE_COMFYUI_RSS_PER_PROMPT_MB", 0)),
    )


async def serve(args: argparse.Namespace) -> None:
    dirs = directories(args)
    shutil.rmtree(dirs.temp, ignore_errors=True)
    for directory in (dirs.input, dirs.output, dirs.temp):
        directory.mkdir(parents=True, exist_ok=True)
    log.info("Setting output directory to: %s", dirs.output)
    log.info("Setting input directory to: %s", dirs.input)
    log.info("Setting temp directory to: %s", dirs.temp)
    log.info("ComfyUI version: 0.3.64 (fake)")
    log.info("Device: cpu")
    await asyncio.sleep(float(os.environ.get("FAKE_COMFYUI_STARTUP_DELAY_MS", 0)) / 1000)
    server = FakeComfyServer(dirs, config_from_env(), crash=lambda: os._exit(1))
    runner = web.AppRunner(server.app, handle_signals=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.listen, args.port, reuse_address=True).start()
    log.info("Starting server\n")
    log.info("To see the GUI go to: http://%s:%d", args.listen, args.port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(parse_args(sys.argv[1:])))
    except KeyboardInterrupt:
        log.info("Stopped server")


if __name__ == "__main__":
    main()
