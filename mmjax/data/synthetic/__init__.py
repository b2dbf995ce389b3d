"""The built-in synthetic multimodal world: procedural, deterministic, no files needed.

scenes.py (objects, layouts, captions), render.py (images), speech.py (a tonal language),
tasks.py (labels with known information structure), questions.py (VQA), world.py (SceneWorld:
every field of every example of every split, on demand), clips.py (ClipWorld: short videos
with motion, appearance, captions and a tone; labels that need frame order or sound and picture).
"""

from mmjax.data.synthetic.clips import ClipWorld
from mmjax.data.synthetic.questions import ANSWERS, QUESTION_TYPES
from mmjax.data.synthetic.scenes import Object, Scene
from mmjax.data.synthetic.speech import Voice, speak
from mmjax.data.synthetic.tasks import TASKS, task_info
from mmjax.data.synthetic.world import FIELDS, SPLITS, SceneWorld
