"""`crosslmm bench serve`: a warm server under load, and the CLI through it against a cold start.

What it runs, in order, against one `crosslmm serve` started for the purpose (its own process on
127.0.0.1, an ephemeral port, so the load it measures does not share the client's interpreter):

  warm-up      one request per video (encodes each once; later requests find them cached)
  reference    every (video, question) answered alone, greedily: what batching must not change
  load         at each concurrency C, C client threads send streamed chat completions back to back
               (`requests` in all): requests/s, time to first token and latency (p50, p95), and how
               many answers equal the reference
  CLI          `crosslmm ask --server URL VIDEO QUESTION` as a new process, wall time from the shell,
               against `crosslmm ask VIDEO QUESTION` without the server (cold: imports and model load)

The server's batch sizes (GET /health) are reported with each concurrency's figures.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crosslmm_cli.client import ServerConnection



@dataclass
class LoadResult:
    concurrency: int
    requests: int
    seconds: float
    requests_per_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    identical: int  # answers equal to the reference (greedy, answered alone)
    batches: dict[str, int]  # answers per generate() call -> calls, during this level


@dataclass
class ServeBenchResult:
    model: str
    videos: list[str]
    questions: list[str]
    max_tokens: int
    load: list[LoadResult] = field(default_factory=list)
    cli_server_s: dict[str, list[float]] = field(default_factory=dict)  # question -> seconds of each run
    cli_cold_s: list[float] = field(default_factory=list)  # the first of those questions, without the server

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low, high = int(rank), min(int(rank) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def start_server(model: str, allow: Sequence[str], *, extra: Sequence[str] = ()) -> tuple[subprocess.Popen, str]:
    """`crosslmm serve` on 127.0.0.1 and a free port; returns the process and its URL once it answers."""
    command = [sys.executable, "-m", "crosslmm_cli", "serve", "--model", model, "--port", "0", "--quiet",
               *[arg for root in allow for arg in ("--allow-path", root)], *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline() if process.stdout else ""  # "" if it exits first
    if not line.startswith("export CROSSLMM_SERVER="):
        process.kill()
        error = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"crosslmm serve did not start: {error.strip().splitlines()[-1:] or line!r}")
    threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its stderr pipe drained
    return process, line.strip().split("=", 1)[1]


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def chat_body(video: str, question: str, max_tokens: int) -> dict[str, Any]:
    content = [{"type": "video_url", "video_url": {"url": "file://" + os.path.abspath(video)}},
               {"type": "text", "text": question}]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0}


def timed_answer(connection: ServerConnection, body: dict[str, Any]) -> tuple[str, float, float]:
    """(answer, seconds to the first text, seconds in all) of one streamed chat completion."""
    started = time.perf_counter()
    first = None
    text = ""
    for event in connection.events("/v1/chat/completions", body):
        for choice in event.get("choices", []):
            piece = choice.get("delta", {}).get("content")
            if piece:
                first = first or time.perf_counter()
                text += piece
    ended = time.perf_counter()
    return text, (first or ended) - started, ended - started


def run_load(connection: ServerConnection, work: Sequence[tuple[str, str]], reference: dict[tuple[str, str], str],
             concurrency: int, requests: int, max_tokens: int) -> LoadResult:
    """`requests` streamed completions from `concurrency` threads, each sending its next as soon as one ends."""
    results: list[tuple[bool, float, float]] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    before = connection.get("/health")["batches"]

    def client() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            item = work[index % len(work)]
            text, ttft, latency = timed_answer(connection, chat_body(*item, max_tokens))
            with lock:
                results.append((text == reference[item], ttft, latency))

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    after = connection.get("/health")["batches"]
    batches = {size: after[size] - before.get(size, 0) for size in after if after[size] - before.get(size, 0)}
    ttfts = [r[1] * 1000 for r in results]
    latencies = [r[2] * 1000 for r in results]
    return LoadResult(concurrency, len(results), round(seconds, 3), round(len(results) / seconds, 2),
                      round(percentile(ttfts, 50), 1), round(percentile(ttfts, 95), 1),
                      round(percentile(latencies, 50), 1), round(percentile(latencies, 95), 1),
                      sum(r[0] for r in results), batches)


def cli_wall(args: Sequence[str], *, env: dict[str, str], repeats: int) -> list[float]:
    """Seconds each run of `crosslmm ARGS` takes as a new process, as from a shell (stdout discarded; a failure raises)."""
    script = Path(sys.executable).with_name("crosslmm")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "crosslmm_cli"]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([*command, *args], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(round(time.perf_counter() - started, 3))
    return times


def bench_serve(model: str, videos: Sequence[str], questions: Sequence[str], *, concurrency: Sequence[int] = (1, 4, 8),
                requests: int = 48, max_tokens: int = 64, cli_questions: Sequence[str] = (), cli_repeats: int = 5,
                cold_repeats: int = 2, progress: Any = None) -> ServeBenchResult:
    """The whole benchmark (see the module docstring); `cli_questions` are asked through the CLI (default: the
    first question); `progress(text)` hears what it is doing."""
    say = progress or (lambda text: None)
    work = [(video, question) for video in videos for question in questions]
    allow = sorted({os.path.dirname(os.path.abspath(v)) for v in videos})
    result = ServeBenchResult(model, list(videos), list(questions), max_tokens)
    process, url = start_server(model, allow)
    try:
        connection = ServerConnection(url)
        say(f"server at {url}; warming up")
        for video in videos:
            timed_answer(connection, chat_body(video, questions[0], max_tokens))
        reference = {item: timed_answer(connection, chat_body(*item, max_tokens))[0] for item in work}
        for level in concurrency:
            say(f"concurrency {level}: {requests} requests")
            result.load.append(run_load(connection, work, reference, level, requests, max_tokens))
        env = {**os.environ, "CROSSLMM_SERVER": url}
        video = videos[0]
        asked = list(cli_questions or questions[:1])
        for question in asked if cli_repeats else []:
            say(f"CLI through the server, {cli_repeats} runs: {question}")
            args = ["ask", "--model", model, video, question, "--max-new-tokens", str(max_tokens)]
            result.cli_server_s[question] = cli_wall(args, env=env, repeats=cli_repeats)
    finally:
        stop_server(process)
    env = {k: v for k, v in os.environ.items() if k != "CROSSLMM_SERVER"}
    if cold_repeats:
        say(f"CLI cold, {cold_repeats} runs")
        args = ["ask", "--model", model, video, asked[0], "--max-new-tokens", str(max_tokens)]
        result.cli_cold_s = cli_wall(args, env=env, repeats=cold_repeats)
    return result


def describe(result: ServeBenchResult) -> str:
    """The result as the table README quotes."""
    lines = [f"model {result.model}, {len(result.videos)} video(s) x {len(result.questions)} question(s), "
             f"greedy, at most {result.max_tokens} tokens",
             "concurrency  requests  req/s  TTFT p50/p95 ms  latency p50/p95 ms  = serial  batches"]
    base = result.load[0].requests_per_s if result.load else None
    for row in result.load:
        speedup = f" ({row.requests_per_s / base:.2f}x)" if base else ""
        batches = " ".join(f"{size}:{count}" for size, count in sorted(row.batches.items(), key=lambda kv: int(kv[0])))
        lines.append(f"{row.concurrency:>11}  {row.requests:>8}  {row.requests_per_s:>5.2f}{speedup}  "
                     f"{row.ttft_p50_ms:>6.0f} / {row.ttft_p95_ms:<6.0f}  {row.latency_p50_ms:>7.0f} / {row.latency_p95_ms:<7.0f}"
                     f"  {row.identical}/{row.requests}  {batches}")
    for question, seconds in result.cli_server_s.items():
        lines.append(f"crosslmm ask --server {question!r}: {statistics.median(seconds):.2f} s median of {len(seconds)} "
                     f"(p95 {percentile(seconds, 95):.2f} s)")
    if result.cli_cold_s:
        first = next(iter(result.cli_server_s), "")
        lines.append(f"crosslmm ask {first!r}, cold: {statistics.median(result.cli_cold_s):.2f} s median of "
                     f"{len(result.cli_cold_s)}")
    return "\n".join(lines)
