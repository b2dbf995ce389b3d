"""Puts the next batches on the devices while the current step runs.

The host pipeline (`mmjax.data.pipeline.Batches`) already builds numpy batches in a thread;
this takes them the last step: a thread pulls a batch, records the iterator's state right
after it (what a checkpoint taken after that batch must store to resume exactly), and
transfers it to the devices (sharded over the mesh, or split for pmap), keeping `size`
batches ready. With `size=0` everything happens in the caller's thread, one batch at a time.
"""

import queue
import threading
from typing import Any, Callable


class DevicePrefetch:
  """Iterates (device batch, data state after it) from `data` (an iterator with `.state()`)."""

  def __init__(self, data, put: Callable[[Any], Any], size: int = 2):
    self.data, self.put, self.size = data, put, size
    self._thread = None

  def _take(self):
    batch = next(self.data)
    return self.put(batch), self.data.state()

  def _produce(self):
    while not self._stop.is_set():
      try:
        item = (self._take(), None)
      except BaseException as e:  # hand StopIteration and errors to the consumer.
        item = (None, e)
      while not self._stop.is_set():
        try:
          self._queue.put(item, timeout=0.1)
          break
        except queue.Full:
          pass
      if item[1] is not None:
        return

  def __iter__(self):
    return self

  def __next__(self):
    if self.size == 0:
      return self._take()
    if self._thread is None:
      self._queue, self._stop = queue.Queue(maxsize=self.size), threading.Event()
      self._thread = threading.Thread(target=self._produce, daemon=True)
      self._thread.start()
    item, err = self._queue.get()
    if err is not None:
      self.close()
      raise err
    return item

  def close(self):
    """Stops the thread. Batches it had already taken from `data` are dropped, so resume from
    the state returned with the last batch consumed, not from `data.state()`."""
    if self._thread is not None:
      self._stop.set()
      self._thread.join()
      self._thread = None
