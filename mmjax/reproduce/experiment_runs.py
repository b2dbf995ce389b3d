"""The experiment scripts the reproduction targets run, and the overrides and run builder
that several targets' modules share (targets.py, inspection_targets.py, real_data_targets.py).
"""

from mmjax.reproduce.spec import Run

CONTRASTIVE = "experiments/contrastive.py"
CAPTIONING = "experiments/captioning.py"
ASR = "experiments/speech_recognition.py"
FUSION = "experiments/fusion_classification.py"
PRETRAIN = "experiments/pretrain_finetune.py"
VQA = "experiments/vqa.py"
TRANSLATION = "experiments/translation.py"
VIDEO = "experiments/video_classification.py"
VIDEO_RETRIEVAL = "experiments/video_retrieval.py"
VIDEO_CAPTIONING = "experiments/video_captioning.py"
AV_EVENTS = "experiments/av_event_localisation.py"
FUSION_TASK = "data.source.shapes.task.name"  # the fusion runs' labelled task
SYNERGY_CHEAP = {FUSION_TASK: "synergy", "model.modalities": "image,text"}
AGREEMENT_CHEAP = {FUSION_TASK: "agreement", "model.modalities": "image,text,audio"}


def fusion_run(name, preset="", cheap=None, then=(), **overrides):
  return Run(name, FUSION, "configs/fusion.py" + (f":{preset}" if preset else ""),
             overrides=overrides, cheap_overrides=cheap or {}, then=then)
