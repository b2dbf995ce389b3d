"""Looking inside trained models: Grad-CAM (gradcam.py), attention maps and rollout
(attention.py), integrated gradients per modality (integrated_gradients.py), scored by the
pointing game on the synthetic world (pointing_game.py) and drawn as overlays (overlay.py).
All are pure functions of a model, its variables and inputs; `python -m mmjax.interpret` runs
them on a trained run (explain.py)."""
