"""How one site's clean clips differ from the simulator's: a scanner's display settings and a storage codec.

A real site's clean images differ from the simulator's default in contrast, brightness, the grey of the blood
pool, the gain profile over depth and speckle texture (the real-clip ranges of shared/notes/echo-domain.md:
sector mean 41–70, std 50–73, dark share 0.34–0.62, speckle SNR 2.5–3.6, and a positive intensity-versus-depth
slope where the simulator's is negative), and they arrive through a codec: EchoNet's MJPEG AVI, H.264 MP4s or
JPEG-compressed DICOM. A `Look` is one such site, drawn at random; `apply_look` renders a clip as that site
would store it. The cause classifier is fitted and benchmarked across looks (ultrasound.fit_causes), so a
site whose clean clips look unlike the simulator's is not taken for a degraded one.

The order follows the signal chain: the acoustic scene (the simulator, then any acoustic degradation), the
scanner's display processing (gain, TGC, compression curve, clutter), then the codec.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from ultrasound.geometry import estimate_sector_mask, sector_apex_and_span

CODECS = ("none", "mjpeg", "h264", "jpeg")

# ranges of each display setting, drawn uniformly per site (reasoning in the module docstring; the benchmark
# in benchmarks/bench_causes.py reports the spread of image statistics they give against the real ranges)
RANGES: dict[str, tuple[float, float]] = {
    # the sector's mean grey level the operator sets the overall gain to reach by eye: EchoNet's clean clips
    # span 41–70, a little beyond that here. Drawing the gain itself (0.6–1.45 was tried) gave sector means
    # 30–88, where a gain drift of 0.5 on a bright site looks like a normal dim one: no per-clip classifier
    # can tell them apart, and no real site shows a clean clip that dim or that bright
    "brightness": (39.0, 72.0),
    "gamma": (0.85, 1.7),  # display compression curve on grey/255: > 1 darkens mid-greys, raising contrast
    "tgc_slope": (-0.15, 0.6),  # log-gain per unit of normalised depth, normalised to a mean gain of 1
    "haze": (0.0, 25.0),  # clutter and a not-black blood pool (cavity grey 11–40 in real clips), grey levels
    "speckle": (0.0, 0.3),  # extra multiplicative speckle (std), lowering the tissue speckle SNR
    "quality": (70.0, 95.0),  # JPEG quality of the mjpeg / jpeg codecs; H.264's CRF is 18 + (95 − quality)/3
}


@dataclass(frozen=True)
class Look:
    """One site's display settings and codec."""

    gain: float = 1.0
    brightness: float | None = None  # when set, the gain is chosen to give the sector this mean grey
    gamma: float = 1.0
    tgc_slope: float = 0.0
    haze: float = 0.0
    speckle: float = 0.0
    quality: float = 95.0
    codec: str = "none"

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_LOOK = Look()


def draw_look(rng: np.random.Generator) -> Look:
    """A random site: every setting uniform over RANGES, the codec one of CODECS with equal chance."""
    values = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in RANGES.items()}
    return Look(**values, codec=str(CODECS[int(rng.integers(len(CODECS)))]))


def _depth(mask: np.ndarray) -> np.ndarray:
    """Normalised depth from the fan's apex: 0 there, 1 at the farthest sector pixel."""
    ax, ay, _, _ = sector_apex_and_span(mask)
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]].astype(np.float32)
    depth = np.hypot(xx - ax, yy - ay)
    return depth / max(float(depth[mask].max()), 1.0)


def gain_for_mean(values: np.ndarray, target: float, steps: int = 24) -> float:
    """The gain whose *displayed* (clipped to 0–255) mean of `values` is `target`: what an operator turning
    the gain knob by eye reaches, saturated pixels included (a plain ratio overshoots bright clips' targets).
    The brightest reachable mean is taken when the target is beyond it."""
    values = np.asarray(values, dtype=np.float32).ravel()
    lo, hi = 0.0, target / max(float(values.mean()), 1e-3)
    for _ in range(8):  # widen until the clipped mean reaches the target
        if float(np.clip(values * hi, 0, 255).mean()) >= target:
            break
        hi *= 2.0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(np.clip(values * mid, 0, 255).mean()) < target else (lo, mid)
    return 0.5 * (lo + hi)


def display(video: np.ndarray, look: Look, rng: np.random.Generator) -> np.ndarray:
    """The scanner's display processing of a look on uint8 [T, H, W] frames (inside the sector only)."""
    video = np.asarray(video)
    mask = estimate_sector_mask(video)
    if mask.sum() < 50:
        return video.copy()
    depth = _depth(mask)
    tgc = np.exp(look.tgc_slope * depth)
    tgc /= tgc[mask].mean()
    v = (video.astype(np.float32) / 255.0) ** look.gamma * 255.0 * tgc
    if look.speckle > 0:
        # speckle that persists over frames as tissue speckle does (90 % of its variance shared)
        shape = video.shape[1:]
        still = gaussian_filter(rng.standard_normal(shape).astype(np.float32), 0.7)
        still /= still.std() + 1e-6
        for t in range(len(v)):
            fresh = gaussian_filter(rng.standard_normal(shape).astype(np.float32), 0.7)
            noise = 0.97 * still + 0.25 * fresh / (fresh.std() + 1e-6)
            v[t] *= 1.0 + look.speckle * noise
    v += look.haze * (0.6 + 0.4 * np.exp(-depth / 0.3))  # clutter: strongest in the near field
    gain = look.gain
    if look.brightness is not None:
        gain = gain_for_mean(v[::4][:, mask], look.brightness)
    v *= gain
    out = np.where(mask, v, video.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _jpeg(frames: np.ndarray, quality: int, colour: bool) -> np.ndarray:
    """Frames through per-frame JPEG: as three equal channels (an MJPEG AVI's) or as one grey channel
    (JPEG baseline in a DICOM file)."""
    import cv2

    out = np.empty_like(frames)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    for t, grey in enumerate(frames):
        image = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR) if colour else grey
        ok, data = cv2.imencode(".jpg", image, params)
        if not ok:
            raise OSError("OpenCV could not encode a JPEG frame")
        flag = cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE
        decoded = cv2.imdecode(data, flag)
        out[t] = cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY) if colour else decoded
    return out


def _h264(frames: np.ndarray, crf: int, fps: float) -> np.ndarray:
    """Frames through an in-memory H.264 MP4 (libx264, yuv420p), decoded again."""
    import io

    import av

    buffer = io.BytesIO()
    t, h, w = frames.shape
    pad_h, pad_w = h + h % 2, w + w % 2
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = pad_w, pad_h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for grey in frames:
            padded = np.pad(grey, ((0, pad_h - h), (0, pad_w - w)), mode="edge")
            frame = av.VideoFrame.from_ndarray(np.repeat(padded[..., None], 3, axis=2), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer) as src:
        decoded = [f.to_ndarray(format="gray")[:h, :w] for f in src.decode(video=0)]
    return np.stack(decoded)[:t].astype(np.uint8)


def encode(frames: np.ndarray, look: Look, fps: float = 50.0) -> np.ndarray:
    """The frames after the look's codec round trip."""
    if look.codec == "none":
        return np.asarray(frames).copy()
    if look.codec == "mjpeg":
        return _jpeg(frames, int(look.quality), colour=True)
    if look.codec == "jpeg":
        return _jpeg(frames, int(look.quality), colour=False)
    if look.codec == "h264":
        return _h264(frames, round(18 + (95 - look.quality) / 3), fps)
    raise ValueError(f"unknown codec {look.codec!r}; expected one of {', '.join(CODECS)}")


def apply_look(video: np.ndarray, look: Look, rng: np.random.Generator, fps: float = 50.0) -> np.ndarray:
    """A clip as the look's site would display and store it."""
    return encode(display(video, look, rng), look, fps)
