"""Video files as streams (PyAV), so memory does not grow with a clip's length.

``Reader`` decodes one frame at a time and hands it over upright (the display rotation applied),
at its display aspect (non-square pixels) and already at the painted size (FFmpeg's scaler, as it
is decoded: a 1080p frame is never held as a whole), and keeps each frame's timestamp, so a
variable-frame-rate clip keeps its timing. Files that hold no video (a still picture under a
video's name, a song's cover art) are refused.

``Writer`` encodes frames as they come: H.264 (yuv420p) at the source's timestamps, its audio
copied as it is, into a temporary file renamed into place when complete (``writing.Spill``: with
``rescue``, a disk that fills up midway sends the file to a rescue folder instead).
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import images, writing

CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Codecs of still pictures: a stream of one frame in one of these is a picture, not a video.
STILL_CODECS = ("mjpeg", "png", "apng", "gif", "webp", "bmp", "tiff", "jpeg2000", "jpegls", "qoi")


class VideoError(ValueError):
    """A video that cannot be read or written."""


class Reader:
    """The frames of ``path`` at ``size`` px on their longest side (even sides, as H.264 needs)."""

    def __init__(self, path: str | os.PathLike, size: int):
        import av

        self.path = path = Path(path)
        if not path.is_file():
            raise VideoError(f"{path}: no such file" if not path.is_dir() else f"{path}: is a folder, not a video")
        self.times: deque[int] = deque()  # the timestamp of each frame handed over, not yet written
        try:
            self._box = av.open(str(path))
        except (av.FFmpegError, UnicodeDecodeError) as e:
            raise VideoError(f"{path}: cannot be read as a video ({_why(e)})") from None
        try:
            self.stream = self._video_stream()
            self._decoded = self._box.decode(self.stream)
            self._first = next(self._decoded, None)
        except av.FFmpegError as e:
            self._box.close()
            raise VideoError(f"{path}: cannot be read as a video ({_why(e)})") from None
        except VideoError:
            self._box.close()
            raise
        if self._first is None:
            self._box.close()
            raise VideoError(f"{path}: has no frames")
        self.rate = Fraction(self.stream.average_rate or self.stream.guessed_rate or 25)
        self.time_base = Fraction(self.stream.time_base or Fraction(1) / self.rate)
        self.turns = round(self._first.rotation / 90) % 4  # quarter turns counterclockwise for display
        h, w = self._first.height, self._first.width
        sar = self.stream.sample_aspect_ratio
        if sar:
            w = max(1, round(w * sar))  # square display pixels
        if self.turns % 2:
            h, w = w, h
        h, w = images.fit(size, h, w)
        self.hw = (max(2, h - h % 2), max(2, w - w % 2))
        self.count = self.stream.frames or None  # as the container says, if it says
        self.audio = self._box.streams.audio[0] if self._box.streams.audio else None

    def _video_stream(self):
        import av

        name = self._box.format.name
        if name.endswith("_pipe") or name in ("image2", "image2pipe"):
            raise VideoError(f"{self.path}: is a still picture ({name.removesuffix('_pipe')}), not a video")
        still = av.stream.Disposition.attached_pic | av.stream.Disposition.still_image
        streams = [s for s in self._box.streams.video if not s.disposition & still]
        if not streams:
            raise VideoError(f"{self.path}: has no video stream")
        stream = streams[0]
        if stream.codec_context.name in STILL_CODECS and stream.frames == 1:
            raise VideoError(f"{self.path}: is a still picture ({stream.codec_context.name}), not a video")
        return stream

    def frames(self) -> Iterator[np.ndarray]:
        """``(H, W, 3)`` uint8 RGB frames at ``hw``, in order; each one's timestamp is appended to
        ``times`` (in ``time_base``; strictly increasing) as it is handed over."""
        import av

        last, step = None, max(1, round(1 / (self.rate * self.time_base)))
        frame = self._first
        try:
            while frame is not None:
                pts = frame.pts if frame.pts is not None else (0 if last is None else last + step)
                last = pts if last is None or pts > last else last + 1
                self.times.append(last)
                yield self._upright(frame)
                frame = next(self._decoded, None)
        except av.FFmpegError as e:
            raise VideoError(
                f"{self.path}: cannot be read as a video past frame {len(self.times)} ({_why(e)})"
            ) from None

    def _upright(self, frame) -> np.ndarray:
        h, w = self.hw if self.turns % 2 == 0 else self.hw[::-1]
        small = frame.height * frame.width > h * w
        arr = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA" if small else "BICUBIC")
        return np.ascontiguousarray(np.rot90(arr.to_ndarray(), self.turns)) if self.turns else arr.to_ndarray()

    def close(self) -> None:
        self._box.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _why(e: BaseException) -> str:
    return str(e).split("\n")[0][:160] or type(e).__name__


class Writer:
    """H.264 into ``output`` (.mp4, .mov, .mkv) at the timestamps of ``source`` (a ``Reader``),
    with its audio copied; ``close()`` renames the complete file into place and returns where it
    went (a rescue folder, with ``rescue``, if the disk failed: then ``error`` says why)."""

    def __init__(self, output: str | os.PathLike, source: Reader, crf: int = 18, rescue: bool = False):
        import av

        self.output, self.source = check_output(output), source
        self._file = writing.Spill(self.output, rescue=rescue)
        try:
            self._box = av.open(self._file, "w", format=CONTAINERS[self.output.suffix.lower()])
            self._vs = self._box.add_stream("libx264", rate=source.rate)
            self._vs.height, self._vs.width = source.hw
            self._vs.pix_fmt, self._vs.options = "yuv420p", {"crf": str(crf)}
            self._vs.codec_context.time_base = source.time_base  # the source's timestamps, exactly
            # before the header is written
            self._audio = self._box.add_stream_from_template(source.audio) if source.audio is not None else None
            self._box.start_encoding()  # the header now: a container that cannot take the audio says so before any work
        except av.FFmpegError as e:
            self._file.discard()
            if source.audio is None:
                raise VideoError(f"{self.output}: cannot be written ({_why(e)})") from None
            raise VideoError(
                f"{self.output}: a {self.output.suffix} file cannot hold the source's "
                f"{source.audio.codec_context.name} audio; write a .mkv (it holds any)"
            ) from None
        except BaseException:
            self._file.discard()
            raise
        self.frames = 0

    @property
    def error(self) -> OSError | None:
        return self._file.error

    def write(self, frame: np.ndarray, pts: int) -> None:
        import av

        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts, vf.time_base = pts, self.source.time_base
        self._box.mux(self._vs.encode(vf))
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder, copy the audio, and put the file in place."""
        import av

        try:
            self._box.mux(self._vs.encode(None))
            if self._audio is not None and self.source.audio is not None:  # its packets as they are: no re-encoding
                with av.open(str(self.source.path)) as src:
                    for packet in src.demux(src.streams[self.source.audio.index]):
                        if packet.dts is not None:
                            packet.stream = self._audio
                            self._box.mux(packet)
            self._box.close()
        except BaseException:
            self.discard()
            raise
        return self._file.commit()

    def discard(self) -> None:
        """Drop the unfinished file (the run failed or was stopped)."""
        with contextlib.suppress(Exception):
            self._box.close()
        self._file.discard()


def check_output(output: str | os.PathLike) -> Path:
    """``output`` if brushwork can write a video there now: its type, its folder, a byte written."""
    output = Path(output)
    if output.suffix.lower() not in CONTAINERS:
        raise VideoError(f"{output}: write a video as {', '.join(CONTAINERS)}")
    folder = writing.target(output).parent
    if not folder.is_dir():
        raise VideoError(f"{output.parent}: no such folder")
    why = writing.unwritable(folder, writing.target(output).name)
    if why is not None:
        raise VideoError(f"{output}: cannot write in {folder} ({why})")
    return output
