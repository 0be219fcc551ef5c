"""``avatar-mock serve``: run the mock until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from mockserver.app import create_app
from mockserver.config import Settings, TlsSettings
from mockserver.tls import files_for, server_context


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar-mock", description="Offline mock of the streaming avatar API.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the mock server")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    serve.add_argument("--config", help="settings file (TOML or JSON)")
    serve.add_argument("--api-key", action="append", dest="api_keys", help="accept only this key (repeatable)")
    serve.add_argument("--latency-profile", help="fast (default) or heygen, or one defined in the config")
    serve.add_argument("--tier-profile", help="seed (default) or docs")
    serve.add_argument("--concurrency-limit", type=int, help="live sessions per key (default 3)")
    serve.add_argument(
        "--media-workers", type=int, help="run WebRTC peers in N worker processes (default 1: in this process)"
    )
    serve.add_argument("--no-media", action="store_true", help="control plane only, no WebRTC")
    serve.add_argument("--no-admin", action="store_true", help="disable /__admin/")
    serve.add_argument(
        "--tls", action="store_true", help="serve HTTPS/WSS with a generated certificate for 127.0.0.1/localhost"
    )
    serve.add_argument("--tls-cert", help="serve HTTPS/WSS with this certificate (PEM; with --tls-key)")
    serve.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    serve.add_argument("--log-level", default="INFO")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {
        "host": args.host,
        "port": args.port,
        "api_keys": args.api_keys,
        "latency_profile": args.latency_profile,
        "tier_profile": args.tier_profile,
        "concurrency_limit": args.concurrency_limit,
        "admin_enabled": False if args.no_admin else None,
    }
    settings = Settings.load(args.config, **{k: v for k, v in overrides.items() if v is not None})
    media = settings.media.model_copy(
        update={
            k: v
            for k, v in {"enabled": False if args.no_media else None, "workers": args.media_workers}.items()
            if v is not None
        }
    )
    tls = settings.tls
    if args.tls or args.tls_cert or args.tls_key:
        cert = Path(args.tls_cert) if args.tls_cert else tls.cert_file
        key = Path(args.tls_key) if args.tls_key else tls.key_file
        tls = TlsSettings(enabled=True, cert_file=cert, key_file=key, dir=tls.dir)
    return settings.model_copy(update={"media": media, "tls": tls})


async def serve(settings: Settings) -> None:
    runner = web.AppRunner(create_app(settings), access_log=None, keepalive_timeout=settings.connection_idle_timeout_s)
    await runner.setup()
    context = None
    if settings.tls.enabled:
        files = files_for(settings.tls)
        context = server_context(files)
        if files.ca is not None:
            print(f"TLS: generated certificate, CA in {files.ca} (clients: SSL_CERT_FILE={files.ca})", file=sys.stderr)
    site = web.TCPSite(runner, settings.host, settings.port, shutdown_timeout=2.0, ssl_context=context)
    await site.start()
    addresses = runner.addresses
    host, port = addresses[0][0], addresses[0][1]
    print(f"listening on {'https' if context else 'http'}://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from_args(args)
    except Exception as exc:  # a bad config file or value: say which, no traceback
        print(f"avatar-mock: invalid settings: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
