"""`crosslmm serve`: the model kept warm behind an OpenAI-compatible HTTP API and the tool's own tasks.

- `protocol`: the wire format, as pydantic models (OpenAI's chat completions; our task requests);
- `http_errors`: errors as OpenAI-shaped JSON with the status that fits;
- `media`: a request's video: `file://` paths under --allow-path, capped uploads to temporary files;
- `scheduler`: the model thread: a bounded queue, greedy answers batched;
- `queued_engine`: the engine as a request's task functions see it, its work queued;
- `serving`: what lives as long as the server; a request's options and video;
- `chat`, `native`: POST /v1/chat/completions, and /v1/describe, /v1/ask, /v1/chapterize, /v1/encode;
- `app`: the FastAPI routes, SSE, the API key, the access log; `server`: bind checks and uvicorn.

A thin layer: requests run the task functions the CLI runs (`crosslmm_cli.tasks`) on the engine the
CLI loads (`crosslmm_cli.engine`). Importing this package imports nothing heavy.
"""
