"""`python -m bench.monolith --port P --book DIR --data DIR --corpus NAME [--redis-url URL]`."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from bench.monolith.app import create_monolith_app
from services.chat.settings import ChatSettings
from services.retrieval.settings import RetrievalSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.monolith")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--book", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--corpus", default="bench")
    parser.add_argument("--redis-url", default=None, help="embedding cache, as the service's")
    args = parser.parse_args()
    chat = ChatSettings(corpus=args.corpus, log_level="warning")
    retrieval = RetrievalSettings(
        data_dir=args.data, redis_url=args.redis_url or None, log_level="warning"
    )
    app = create_monolith_app(chat, retrieval, args.book, args.corpus)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
