"""The metric catalog: titles, categories and "how it is measured" text for every known metric."""

from __future__ import annotations

from dataclasses import dataclass

#: Display order of the categories.
CATEGORIES: tuple[str, ...] = ("Session setup", "Speech", "REST API", "Media quality", "Load", "Other")


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric is, for humans."""

    name: str
    title: str
    category: str
    description: str
    unit: str = ""
    #: True when a smaller value is better (latencies, loss); False for bitrate/fps; None for gauges.
    lower_is_better: bool | None = True
    known: bool = True


_KNOWN: tuple[MetricInfo, ...] = (
    MetricInfo(
        "session.create", "Session create", "Session setup",
        "From `streaming.new` sent (before the request reaches httpx, so connection set-up, TLS and server time "
        "count) until its JSON response is decoded. Same call as `rest.streaming.new`, labelled with the new "
        "session id.", "ms",
    ),
    MetricInfo(
        "session.start", "Session start", "Session setup",
        "From `streaming.start` sent (carrying the client's SDP) until its response is decoded.", "ms",
    ),
    MetricInfo(
        "session.ice_connected", "ICE connected", "Session setup",
        "From `streaming.new` sent until aiortc's ICE connection state becomes `connected`/`completed`: create, "
        "SDP work, start and the ICE checks, as a user waits for them. Never reached: an error `NotReceived`.",
        "ms",
    ),
    MetricInfo(
        "session.first_frame", "First video frame", "Session setup",
        "From `streaming.new` sent until the first video frame: the first decoded frame (`decode` mode) or the "
        "RTP packet completing it (`count` mode). The moment a user would first see the avatar.", "ms",
    ),
    MetricInfo(
        "session.first_audio", "First audio packet", "Session setup",
        "From `streaming.new` sent until the first audio RTP packet accepted by the receiver.", "ms",
    ),
    MetricInfo(
        "session.stop", "Session stop", "Session setup",
        "From `streaming.stop` sent until its response is decoded. Not recorded when the service had already "
        "closed the session.", "ms",
    ),
    MetricInfo(
        "session.reconnect", "Reconnect", "Session setup",
        "From noticing a dropped session (peer connection failed/closed, or keep-alive answered 10005/10006) "
        "until the replacement session's peer connection is up. Only with `reconnect=True`.", "ms",
    ),
    MetricInfo(
        "speech.event", "Speech event", "Speech",
        "From `streaming.task` sent until the data-channel event `avatar_start_talking` with that task's id "
        "arrives: what the service *says*. Times out (`Timeout`) after the media timeout.", "ms",
    ),
    MetricInfo(
        "speech.onset", "Speech onset", "Speech",
        "From `streaming.task` sent until speech is heard in the received audio: the first of 2 consecutive "
        "20 ms frames whose RMS level is at least max(noise floor + 20 dB, -55 dBFS). What a listener "
        "perceives.", "ms",
    ),
    MetricInfo(
        "speech.duration_error", "Speech duration error", "Speech",
        "Received speech duration (offset - onset, offset after 150 ms of quiet) minus the task's "
        "`duration_ms`. Positive: the audio lasted longer than announced. Not recorded for interrupted tasks. "
        "Can be negative, so drawn on a linear axis.", "ms",
    ),
    MetricInfo(
        "interrupt.latency", "Interrupt latency", "Speech",
        "From `streaming.interrupt` sent until the first silent audio frame after it; only when speech was "
        "playing at the time (0 if the audio went silent during the request).", "ms",
    ),
    MetricInfo(
        "media.bitrate", "Video bitrate", "Media quality",
        "Video RTP payload bytes received in a window (default 5 s) x 8 / window seconds / 1000, per session. "
        "`target` is the tier's bitrate (low 500, medium 1000, high 2000 kbps); the report checks the median "
        "against a ±10% band.", "kbps", lower_is_better=False,
    ),
    MetricInfo(
        "media.fps", "Video frame rate", "Media quality",
        "Video frames per second in a window, per session: decoded frames (`decode` mode) or frames completed "
        "by their RTP marker bit (`count` mode). Target: 25.", "fps", lower_is_better=False,
    ),
    MetricInfo(
        "media.freezes", "Video freezes", "Media quality",
        "Gaps longer than 200 ms between consecutive video frames that ended in the window (a gap still open "
        "at the window's end counts there, once).", "count",
    ),
    MetricInfo(
        "media.packet_loss", "Packet loss", "Media quality",
        "Video packets expected minus received over expected in the window, in percent (expected from the "
        "extended highest sequence number, RFC 3550 A.3; retransmissions count as received).", "percent",
    ),
    MetricInfo(
        "media.jitter", "Jitter", "Media quality",
        "RFC 3550 A.8 interarrival jitter of the video stream (90 kHz clock, packets that start a frame) at "
        "the window's end.", "ms",
    ),
    MetricInfo(
        "sessions.live", "Live sessions", "Load",
        "Number of live (started, not yet stopped) sessions at `ts`, sampled every second by the load "
        "generator. A gauge, not a latency.", "count", lower_is_better=None,
    ),
    MetricInfo(
        "concurrency.step", "Concurrency step", "Load",
        "Live sessions held at one step of the concurrency staircase. `ok=false` marks the step where opening "
        "more sessions failed, i.e. where the concurrency limit was hit.", "count", lower_is_better=None,
    ),
)

KNOWN_METRICS: dict[str, MetricInfo] = {m.name: m for m in _KNOWN}

#: Contract result codes (mirrors avatar_contract.codes, copied so reports stays standalone).
ERROR_CODE_NAMES: dict[str, str] = {
    "400112": "unauthorized",
    "40001": "missing parameter",
    "400175": "invalid parameter",
    "10001": "session state: new",
    "10002": "session state: connecting",
    "10003": "session state: connected",
    "10004": "session state: closing",
    "10005": "session state: closed",
    "10006": "session not found",
    "10007": "concurrent session limit",
    "10012": "avatar not found",
    "10013": "avatar not allowed",
    "400140": "rate limited",
    "403": "forbidden",
    "404": "not found",
    "405": "method not allowed",
    "413": "body too large",
    "500": "internal error",
    "408": "request body too slow",
    # Client-side failure names (docs/metrics.md).
    "Timeout": "no answer in time",
    "TransportError": "network error",
    "RequestTimeout": "HTTP request timed out",
    "NotReceived": "milestone never happened",
    "NoValue": "nothing measured",
}


def describe(metric: str, unit: str = "") -> MetricInfo:
    """Catalog entry for `metric`; REST operations and unknown metrics get generic text."""
    info = KNOWN_METRICS.get(metric)
    if info is not None:
        return info
    if metric.startswith("rest."):
        op = metric.removeprefix("rest.")
        return MetricInfo(
            metric, f"REST {op}", "REST API",
            f"One `{op}` REST call, from the request being sent (before httpx, so connection set-up, TLS and "
            "server time count) until the response body is decoded as JSON. A contract error counts as an error "
            "with its code; a network error or timeout as `TransportError` / `Timeout`.", unit or "ms",
        )
    return MetricInfo(
        metric, metric, "Other",
        "A metric this report version does not know. Numbers are computed the same way as for every other "
        "metric: percentiles over all successful (`ok=true`) samples in the run file, errors counted "
        "separately. See the component that emitted it for how it is measured.", unit, known=False,
    )


def error_label(code: str) -> str:
    """`"10007"` -> `"10007 (concurrent session limit)"`; unknown codes unchanged."""
    name = ERROR_CODE_NAMES.get(code)
    return f"{code} ({name})" if name else code


def sort_key(metric: str) -> tuple[int, int, str]:
    """Order metrics by category, then catalog order, then name."""
    info = describe(metric)
    order = list(KNOWN_METRICS).index(metric) if metric in KNOWN_METRICS else 10_000
    return (CATEGORIES.index(info.category), order, metric)
