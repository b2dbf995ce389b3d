"""Video decoding with PyAV on files the test writes: mp4, webm and gif; frame sampling by
count, stride and fps; resizing; and bad files named with the reason."""

import numpy as np
import pytest

from mmjax.data.video_ops import decode_video, sample_indices

av = pytest.importorskip("av")

FRAMES, RATE = 20, 10


def write_video(path, codec, frames=FRAMES, rate=RATE, size=(48, 32)):
  """Frame i is a flat grey of brightness 10 * i + 20 (w x h = size), so a decoded frame's mean
  says which it was even after lossy coding."""
  with av.open(str(path), "w") as out:
    stream = out.add_stream(codec, rate=rate)
    stream.width, stream.height = size
    stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
    for i in range(frames):
      img = np.full((size[1], size[0], 3), 10 * i + 20, np.uint8)
      for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
        out.mux(packet)
    for packet in stream.encode():
      out.mux(packet)
  return str(path)


def which(video):
  """The source frame index of each decoded frame."""
  return np.round((video.reshape(len(video), -1).mean(1) - 20) / 10).astype(int).tolist()


@pytest.fixture(scope="module", params=[("mp4", "mpeg4"), ("webm", "libvpx"), ("gif", "gif")])
def video_file(request, tmp_path_factory):
  suffix, codec = request.param
  return write_video(tmp_path_factory.mktemp("v") / f"clip.{suffix}", codec)


def test_num_frames_spread_over_the_clip(video_file):
  video = decode_video(video_file, num_frames=4)
  assert video.shape == (4, 32, 48, 3) and video.dtype == np.uint8
  assert which(video) == [2, 7, 12, 17]  # centres of 4 segments of 20 frames


def test_stride_and_fps(video_file):
  assert which(decode_video(video_file, 5, stride=3)) == [0, 3, 6, 9, 12]
  assert which(decode_video(video_file, 4, fps=2.0)) == [0, 5, 10, 15]  # 10 fps source
  # Past the end: the last frame repeats.
  assert which(decode_video(video_file, 8, stride=6)) == [0, 6, 12, 18, 18, 18, 18, 18]


def test_resize_gives_float_frames_of_the_size(video_file):
  video = decode_video(video_file, 2, size=(16, 24))
  assert video.shape == (2, 16, 24, 3) and video.dtype == np.float32


def test_sample_indices():
  assert sample_indices(10, 5).tolist() == [1, 3, 5, 7, 9]
  assert sample_indices(3, 5).tolist() == [0, 0, 1, 2, 2]  # a short clip repeats frames
  assert sample_indices(10, 4, stride=4).tolist() == [0, 4, 8, 8]


def test_bad_files_and_options_name_the_problem(tmp_path):
  broken = tmp_path / "broken.mp4"
  broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
  with pytest.raises(ValueError, match="broken.mp4"):
    decode_video(str(broken), 4)
  with pytest.raises(ValueError, match="cannot open .*missing.mp4"):
    decode_video(str(tmp_path / "missing.mp4"), 4)
  wav = tmp_path / "sound.wav"
  import scipy.io.wavfile
  scipy.io.wavfile.write(wav, 8000, np.zeros(800, np.int16))
  with pytest.raises(ValueError, match="sound.wav has no video stream"):
    decode_video(str(wav), 4)
  clip = write_video(tmp_path / "big.mp4", "mpeg4", frames=2, size=(64, 64))
  with pytest.raises(ValueError, match="64 x 64 pixels are more than max_pixels=1000"):
    decode_video(clip, 2, max_pixels=1000)
  with pytest.raises(ValueError, match=r"give stride or fps \(or neither\), not both"):
    decode_video(clip, 2, stride=2, fps=1.0)
  with pytest.raises(ValueError, match="num_frames=0; valid: an integer >= 1"):
    decode_video(clip, 0)
