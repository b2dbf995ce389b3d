"""Host-side video decoding (PyAV) and frame sampling.

  frames = decode_video("clip.mp4", num_frames=8, fps=4.0, size=64)  # uint8 [8, 64, 64, 3]

Any container and codec the PyAV wheel's FFmpeg reads (mp4/H.264, webm/VP8-9, gif, avi, ...)
decodes to RGB frames. Which frames are kept (`sample_indices`):
  num_frames only    that many, evenly spaced over the whole clip (TSN-style: the clip's
                     course, whatever its length);
  stride / fps       every `stride`-th decoded frame, or the frames nearest to a grid of `fps`
                     per second (from the stream's timestamps), starting at the first; then the
                     first `num_frames` of them, the last frame repeated when the clip is short.
Decoding stops once the last needed frame is read, so a long file costs only its used start.
A file that cannot be decoded, has no video stream or no frames, or has frames of more than
`max_pixels` pixels raises ValueError naming the file and the problem.
"""

import os
from typing import Optional

import numpy as np

from mmjax.data.image_ops import Size, _hw, resize

VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".avi", ".mov", ".mkv", ".m4v")
DEFAULT_MAX_PIXELS = 4096 * 4096


def sample_indices(count: int, num_frames: int, stride: Optional[int] = None) -> np.ndarray:
  """Indices into `count` decoded frames: `num_frames` evenly spaced (stride None), or every
  `stride`-th from the first, the last one repeated to `num_frames` when the clip is short."""
  if count < 1:
    raise ValueError("no frames to sample from.")
  if stride is None:
    # Centres of num_frames equal segments, as TSN samples at test time.
    return np.minimum(((np.arange(num_frames) + 0.5) * count / num_frames).astype(np.int64),
                      count - 1)
  return np.minimum(np.arange(num_frames) * stride, (count - 1) // stride * stride)


def sampling_error(num_frames, stride=None, fps=None) -> Optional[str]:
  """Why these frame-sampling options are invalid, or None (checked before any file is read)."""
  if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
    return f"num_frames={num_frames!r}; valid: an integer >= 1."
  if stride is not None and fps is not None:
    return f"stride={stride} and fps={fps}: give stride or fps (or neither), not both."
  if (stride is not None and (not isinstance(stride, int) or stride < 1)) or (
      fps is not None and not fps > 0):
    return f"stride={stride!r}, fps={fps!r}; valid: stride an integer >= 1, fps > 0."
  return None


def _open(path: str):
  import av  # pylint: disable=g-import-not-at-top  (only video needs PyAV)
  if os.path.isfile(path) and os.path.getsize(path) == 0:  # FFmpeg says only "invalid data"
    raise ValueError(f"{path} is an empty file (0 bytes), not a video.")
  try:
    container = av.open(path)
  except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
    raise ValueError(f"cannot open {path} as a video: {e}") from None
  if not container.streams.video:
    container.close()
    raise ValueError(f"{path} has no video stream.")
  return av, container


def decode_video(path: str, num_frames: int, stride: Optional[int] = None,
                 fps: Optional[float] = None, size: Optional[Size] = None,
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
  """A video file -> uint8 [num_frames, h, w, 3] RGB (float32 [num_frames, *size, 3] when
  `size` is given: resized as `image_ops.resize` resizes images). Give at most one of stride
  and fps; with neither, the frames spread over the whole clip (see the module docstring)."""
  error = sampling_error(num_frames, stride, fps)
  if error:
    raise ValueError(error)
  av, container = _open(path)
  with container:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # FFmpeg's own frame threads
    if max_pixels is not None and stream.width * stream.height > max_pixels:
      raise ValueError(f"{path}: frames of {stream.width} x {stream.height} pixels are more than "
                       f"max_pixels={max_pixels}.")
    # Spread frames need the clip's length: the container's frame count when it states one
    # (then only the chosen frames are converted to RGB, the costly part), else all of them.
    spread = stride is None and fps is None
    wanted = None
    if spread and stream.frames > 0:
      wanted = set(sample_indices(stream.frames, num_frames).tolist())
    last = None if spread else (num_frames - 1) * (stride or 1)
    frames, times, count = {}, [], 0
    try:
      for count, frame in enumerate(container.decode(stream), start=1):
        if fps is not None:
          # Seconds from the stream's timestamps; a frame without one follows at the mean rate.
          t = frame.time if frame.time is not None else len(frames) / float(
              stream.average_rate or 25)
          if times and t >= times[0] + num_frames / fps:
            break  # a grid interval past the last grid point: nothing nearer follows
          times.append(float(t))
        if wanted is None or count - 1 in wanted:
          frames[count - 1] = frame.to_ndarray(format="rgb24")
        if last is not None and fps is None and count > last:
          break
    except av.error.FFmpegError as e:
      if not frames:
        raise ValueError(f"cannot decode {path}: {e}") from None
      # A damaged tail: keep the frames decoded so far, as players do.
  if not frames:
    raise ValueError(f"{path} has no video frames.")
  if fps is not None:
    grid = times[0] + np.arange(num_frames) / fps
    # The decoded frame nearest each grid time (the last one past the clip's end).
    index = np.abs(np.asarray(times)[None] - grid[:, None]).argmin(axis=1)
  elif wanted is not None and count == stream.frames:
    index = sample_indices(count, num_frames)
  elif wanted is not None:  # fewer frames than the container said: the kept ones, spread
    kept = sorted(frames)
    index = [kept[i] for i in sample_indices(len(kept), num_frames)]
  else:
    index = sample_indices(count, num_frames, stride)
  video = np.stack([frames[i] for i in index])
  if size is None:
    return video
  h, w = _hw(size)
  return np.stack([resize(f, (h, w)) for f in video])
