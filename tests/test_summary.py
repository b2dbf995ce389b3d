"""The parameter-count command builds every registered component and counts known models right."""

from mmjax.models import summary


def test_every_component_builds_and_known_counts_match():
  rows = {name: n for kind, name, opts, n in summary.component_rows()}
  # ResNet-50 without its 1000-way classifier (2,049,000 params) has 23,508,032 (torchvision).
  assert rows["resnet50"] == 25_557_032 - 2_049_000
  # all-MiniLM-L6-v2 = BERT 6x384 without the pooler: 22,565,376 (sentence-transformers).
  assert rows["bert_minilm_l6"] == 22_565_376
  assert all(n >= 0 for n in rows.values()) and len(rows) >= 28


def test_contrastive_config_counts():
  counts = summary.config_counts("configs/contrastive.py:clip_tiny")
  assert sum(counts.values()) == 11_780_866  # what the trainer reports for clip_tiny.
  assert set(counts) >= {"img_tower", "txt_tower", "img_proj", "txt_proj"}
