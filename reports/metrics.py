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
        "Wall-clock time from sending `streaming.new` until its JSON response is parsed. Includes the TLS/HTTP "
        "round trip and the service's session allocation; no media is involved yet.", "ms",
    ),
    MetricInfo(
        "session.start", "Session start", "Session setup",
        "Time from sending `streaming.start` (with the local SDP answer) until its response is parsed.", "ms",
    ),
    MetricInfo(
        "session.ice_connected", "ICE connected", "Session setup",
        "Time from sending `streaming.new` until the WebRTC peer connection reports ICE state `connected`. "
        "Covers create + start + ICE candidate exchange and connectivity checks.", "ms",
    ),
    MetricInfo(
        "session.first_frame", "First video frame", "Session setup",
        "Time from sending `streaming.new` until the first decoded video frame arrives on the client: the "
        "moment a user would first see the avatar.", "ms",
    ),
    MetricInfo(
        "session.first_audio", "First audio packet", "Session setup",
        "Time from sending `streaming.new` until the first audio RTP packet is received.", "ms",
    ),
    MetricInfo(
        "session.stop", "Session stop", "Session setup",
        "Time from sending `streaming.stop` until its response is parsed.", "ms",
    ),
    MetricInfo(
        "speech.event", "Speech event", "Speech",
        "Time from sending `streaming.task` until the `avatar_start_talking` event arrives on the data "
        "channel / event stream. This is what the service *says*; see speech onset for what is heard.", "ms",
    ),
    MetricInfo(
        "speech.onset", "Speech onset", "Speech",
        "Time from sending `streaming.task` until speech is detected in the received audio (energy-based "
        "voice activity on the decoded track). The latency a listener perceives.", "ms",
    ),
    MetricInfo(
        "speech.duration_error", "Speech duration error", "Speech",
        "Duration of the received speech minus the task's expected `duration_ms`. Negative means the speech "
        "was cut short, positive that it ran long. Can be negative, so shown on a linear axis.", "ms",
    ),
    MetricInfo(
        "interrupt.latency", "Interrupt latency", "Speech",
        "Time from sending `streaming.interrupt` until the received audio returns to silence.", "ms",
    ),
    MetricInfo(
        "media.bitrate", "Video bitrate", "Media quality",
        "Received video bitrate over a measurement window (bytes of video RTP payload x 8 / window), per "
        "session. Its `target` is the tier's nominal bitrate; the report checks it against a +-10% band.",
        "kbps", lower_is_better=False,
    ),
    MetricInfo(
        "media.fps", "Video frame rate", "Media quality",
        "Decoded video frames per second over a measurement window, per session. Target: the tier's fps "
        "(25 unless configured).", "fps", lower_is_better=False,
    ),
    MetricInfo(
        "media.freezes", "Video freezes", "Media quality",
        "Number of gaps longer than 200 ms between consecutive received video frames within a window.",
        "count",
    ),
    MetricInfo(
        "media.packet_loss", "Packet loss", "Media quality",
        "RTP packet loss in percent, from the receiver's RTCP statistics over a window.", "percent",
    ),
    MetricInfo(
        "media.jitter", "Jitter", "Media quality",
        "RTP interarrival jitter (RFC 3550) reported by the receiver, in milliseconds.", "ms",
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
            f"One `{op}` REST call: wall-clock time from sending the request until the response body is "
            "received and parsed, as seen by the client (includes network and TLS). Failed calls count as "
            "errors with the contract code.", unit or "ms",
        )
    return MetricInfo(
        metric, metric, "Other",
        "A metric this report version does not know. Numbers are computed the same way as for every other "
        "metric: percentiles over all successful (`ok=true`) samples in the run file, errors counted "
        "separately. See the component that emitted it for how it is measured.", unit, known=False,
    )


def error_label(code: str) -> str:
    """`"10007"` -> `"10007 concurrent session limit"`; unknown codes unchanged."""
    name = ERROR_CODE_NAMES.get(code)
    return f"{code} {name}" if name else code


def sort_key(metric: str) -> tuple[int, int, str]:
    """Order metrics by category, then catalog order, then name."""
    info = describe(metric)
    order = list(KNOWN_METRICS).index(metric) if metric in KNOWN_METRICS else 10_000
    return (CATEGORIES.index(info.category), order, metric)
