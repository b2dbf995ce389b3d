"""The results rows that play the pointing game of a trained model's maps (`python -m
mmjax.interpret`, a follow-up of each row's training run): fusion, captioning, VQA,
cross-attention fusion, video, AV events, video retrieval, video captioning, pretrain ->
fine-tune, translation's text judge and speech. inspection_targets.py places them among the
rows that look inside a model; the same one-block-per-row format (targets.py's docstring).
"""

import os

from mmjax.reproduce.experiment_runs import (ASR, AV_EVENTS, CAPTIONING, PRETRAIN,
                                             SYNERGY_CHEAP, TRANSLATION, VIDEO,
                                             VIDEO_CAPTIONING, VIDEO_RETRIEVAL, VQA, fusion_run)
from mmjax.reproduce.spec import FollowUp, Metric, Row, Run

AUDIO_ENCODER = "model.encoders.audio.name"  # the tiny preset's wave_cnn has no attention maps
# mmjax/interpret/video_captions.py's games (words_over_time).
EVENT_WORDS, OTHER_WORDS = "pointing_game_event_words", "pointing_game_other_object_words"
TEXT_GAME = "text_classifier_integrated_gradients.pointing_game_colour"


def explained(method: str, stage: str = "") -> FollowUp:
  """`python -m mmjax.interpret --method <method>` on a finished run (or its stage `stage`):
  its scores.json, as the run's results' "<method>" (or "<stage>_<method>")."""
  where = os.path.join(stage, "interpret", method, "scores.json")
  return FollowUp(f"{stage}_{method}" if stage else method,
                  ("-m", "mmjax.interpret", "--method", method), where, stage)


def pointing(run: str, game: str, untrained: bool = False, centre: bool = True) -> dict:
  """The metrics of pointing game `game` (e.g. "gradcam.pointing_game") of run `run`: its hit
  rate ("all"), number of maps ("n"), baselines ("random", "centre" unless centre=False, as
  for a game over words, and "fixed": the same for every seed) and, with untrained, the same
  model untrained's hit rate ("init")."""
  out = dict(all=Metric(run, f"{game}.hit_rate"),
             n=Metric(run, f"{game}.num_maps", ".0f", varies=False),
             random=Metric(run, f"{game}.random_baseline", varies=False),
             fixed=Metric(run, f"{game}.best_fixed_baseline", ".2f", varies=False))
  if centre:
    out["centre"] = Metric(run, f"{game}.centre_baseline", ".2f", varies=False)
  if untrained:
    out["init"] = Metric(run, f"{game}.untrained_model")
  return out


def words_over_time(run: str, game: str, key: str) -> dict:
  """The metrics of a video captioner's pointing game over frames `game` (e.g.
  "cross_attention.pointing_game_event_words") of run `run`, named key, n_key, key_init,
  key_random, key_fixed. Which words a captioner writes, and so the game's counts and
  baselines, vary with the seed: they are shown, not checked."""
  return {key: Metric(run, f"{game}.hit_rate"),
          f"n_{key}": Metric(run, f"{game}.num_maps", ".0f", tol=None),
          f"{key}_init": Metric(run, f"{game}.untrained_model"),
          f"{key}_random": Metric(run, f"{game}.random_baseline", ".2f", tol=None),
          f"{key}_fixed": Metric(run, f"{game}.best_fixed_baseline", ".2f", tol=None)}


MAPS_TARGETS = (
    Row("interpretability", "interpretability: pointing game of the default `redundant` fusion "
        "run's maps and of the default captioner's cross-attention, 200 test examples (a hit: "
        "the map's peak on the object the label or the word names; for speech, in its spoken "
        "word)",
        "`python -m mmjax.interpret --workdir runs/fusion --method gradcam` (and "
        "`integrated_gradients`, `rollout`; `rollout` of a run with "
        "`--config.model.encoders.image.name=vit`; `cross_attention` of `runs/captioning`)",
        runs=(fusion_run("interpret_cnn", cheap={AUDIO_ENCODER: "ast"},
                         then=tuple(explained(m) for m in
                                    ("gradcam", "integrated_gradients", "rollout"))),
              fusion_run("interpret_vit", cheap={AUDIO_ENCODER: "ast"},
                         then=(explained("rollout"),),
                         **{"model.encoders.image.name": "vit"}),
              # The tiny preset's 6 steps name no object yet; 150 do.
              Run("interpret_captions", CAPTIONING, "configs/captioning.py",
                  cheap_overrides={"total_steps": "150", "checkpoint.every_steps": "150"},
                  then=(explained("cross_attention"),))),
        result="Grad-CAM (CNN) {gradcam}, integrated gradients {ig}, ViT attention rollout "
               "{vit} (a random map {random}, the centre pixel {centre}, the best fixed pixel "
               "in hindsight {fixed}); the audio's share of the attributions {ig_audio}; AST "
               "rollout over time {ast} (a random patch {ast_random}, the best fixed patch "
               "{ast_fixed}); the default captioner's cross-attention for a generated word "
               "naming one object's colour {cap_colour}, its shape {cap_shape} (a random map "
               "{cap_random}, the best fixed pixel {cap_fixed})",
        metrics=dict(
            gradcam=Metric("interpret_cnn", "gradcam.pointing_game.hit_rate"),
            ig=Metric("interpret_cnn", "integrated_gradients.pointing_game.hit_rate"),
            vit=Metric("interpret_vit", "rollout.pointing_game.hit_rate"),
            random=Metric("interpret_cnn", "gradcam.pointing_game.random_baseline",
                          varies=False),
            centre=Metric("interpret_cnn", "gradcam.pointing_game.centre_baseline", ".2f",
                          varies=False),
            fixed=Metric("interpret_cnn", "gradcam.pointing_game.best_fixed_baseline", ".2f",
                         varies=False),
            ig_audio=Metric("interpret_cnn", "integrated_gradients.integrated_gradients."
                                             "mean_share_of_magnitude.audio"),
            ast=Metric("interpret_cnn", "rollout.audio_pointing_game.hit_rate"),
            ast_random=Metric("interpret_cnn", "rollout.audio_pointing_game.random_baseline",
                              varies=False),
            ast_fixed=Metric("interpret_cnn",
                             "rollout.audio_pointing_game.best_fixed_baseline", ".2f",
                             varies=False),
            # Which words a captioner generates, and so the baselines, vary with the seed.
            cap_colour=Metric("interpret_captions",
                              "cross_attention.pointing_game_colour_words.hit_rate"),
            cap_shape=Metric("interpret_captions",
                             "cross_attention.pointing_game_shape_words.hit_rate"),
            cap_random=Metric("interpret_captions",
                              "cross_attention.pointing_game.random_baseline", tol=None),
            cap_fixed=Metric("interpret_captions",
                             "cross_attention.pointing_game.best_fixed_baseline", ".2f",
                             tol=None))),
    Row("interpretability_vqa", "interpretability of the default VQA model: Grad-CAM of its "
        "CNN for the answer, pointing game on the object a colour / shape / size question "
        "names, of 200 test questions",
        "`python -m mmjax.interpret --workdir runs/vqa --method gradcam`",
        runs=(Run("interpret_vqa", VQA, "configs/vqa.py", then=(explained("gradcam"),)),),
        result="hits {all} on the {n} questions (a random map {random}, the centre pixel "
               "{centre}, the best fixed pixel in hindsight {fixed}); colour questions "
               "{colour}, shape {shape}, size {size}",
        metrics=dict(
            **pointing("interpret_vqa", "gradcam.pointing_game"),
            colour=Metric("interpret_vqa",
                          "gradcam.pointing_game_colour_questions.hit_rate"),
            shape=Metric("interpret_vqa", "gradcam.pointing_game_shape_questions.hit_rate"),
            size=Metric("interpret_vqa", "gradcam.pointing_game_size_questions.hit_rate"))),
    Row("interpretability_fusion_attention", "interpretability of a cross-attention fusion: "
        "`synergy` task, image + caption fused by bidirectional `cross_attention`; each caption "
        "word naming one object's colour or shape, pointing game of its attention over the "
        "image, 200 test examples",
        "`python -m mmjax.interpret --workdir runs/synergy_xattn --method cross_attention`",
        runs=(fusion_run("interpret_xattn", "synergy", SYNERGY_CHEAP,
                         then=(explained("cross_attention"),),
                         **{"model.fusion.name": "cross_attention"}),),
        result="hits {all} of {n} words (the same model untrained {init}, a random map "
               "{random}, the centre pixel {centre}, the best fixed pixel in hindsight {fixed}); "
               "colour words {colour}, shape words {shape}; the run's accuracy {acc} (chance "
               "{chance})",
        metrics=dict(
            **pointing("interpret_xattn", "cross_attention.pointing_game", untrained=True),
            colour=Metric("interpret_xattn",
                          "cross_attention.pointing_game_colour_words.hit_rate"),
            shape=Metric("interpret_xattn", "cross_attention.pointing_game_shape_words.hit_rate"),
            acc=Metric("interpret_xattn", "accuracy"),
            chance=Metric("interpret_xattn", "chance", ".3g", varies=False))),
    Row("interpretability_video", "interpretability of the default video classifier (the "
        "mover's direction; CNN per frame + temporal Transformer): Grad-CAM of every frame for "
        "its prediction, pointing game on the mover, 200 test clips x 8 frames",
        "`python -m mmjax.interpret --workdir runs/video --method gradcam`",
        runs=(Run("interpret_video", VIDEO, "configs/video.py", then=(explained("gradcam"),)),),
        result="hits {all} of the {n} frame maps (a random map {random}, the centre pixel "
               "{centre}, the best fixed pixel in hindsight {fixed}); accuracy of the explained "
               "predictions {acc}",
        metrics=dict(
            **pointing("interpret_video", "gradcam.pointing_game"),
            acc=Metric("interpret_video", "gradcam.accuracy"))),
    Row("interpretability_av_events", "interpretability of the default audio-visual event "
        "localiser (CNN per frame + audio, `concat`): Grad-CAM of every frame for the event "
        "score of the segment holding the event, pointing game on the object that appears or "
        "disappears in the boundary frame showing it, the in-sync clips of 200 test clips",
        "`python -m mmjax.interpret --workdir runs/ave --method gradcam`",
        runs=(Run("interpret_av_events", AV_EVENTS, "configs/av_events.py",
                  then=(explained("gradcam"),)),),
        result="hits {all} of {n} events (the same model untrained {init}, a random map "
               "{random}, the centre pixel {centre}, the best fixed pixel in hindsight {fixed}); "
               "the frame showing the object holds "
               "{share} of the maps' mass (the other boundary frame the rest); the event found "
               "in its segment {found}; exact localisation {exact}",
        metrics=dict(
            **pointing("interpret_av_events", "gradcam.pointing_game", untrained=True),
            share=Metric("interpret_av_events", "gradcam.evidence_frame_share"),
            found=Metric("interpret_av_events", "gradcam.event_found"),
            exact=Metric("interpret_av_events", "exact"))),
    Row("interpretability_video_retrieval", "interpretability of the default video-text "
        "retrieval model (CNN per frame + temporal Transformer): Grad-CAM of every frame for "
        "the similarity with the clip's caption, pointing game on the objects it names, 200 "
        "test clips x 8 frames",
        "`python -m mmjax.interpret --workdir runs/video_retrieval --method gradcam`",
        runs=(Run("interpret_video_retrieval", VIDEO_RETRIEVAL, "configs/video_retrieval.py",
                  then=(explained("gradcam"),)),),
        result="hits {all} of the {n} frame maps (the same model untrained {init}, a random "
               "map {random}, the centre pixel {centre}, the best fixed pixel in hindsight "
               "{fixed}); peaks on the mover {mover} (its area {mover_area}), on the other "
               "object in the frames showing it {other} (its area {other_area}); video->text "
               "R@1 {r1}",
        metrics=dict(
            **pointing("interpret_video_retrieval", "gradcam.pointing_game", untrained=True),
            mover=Metric("interpret_video_retrieval", "gradcam.peak_on.mover"),
            mover_area=Metric("interpret_video_retrieval", "gradcam.peak_on.mover_area", ".2f",
                              varies=False),
            other=Metric("interpret_video_retrieval", "gradcam.peak_on.other"),
            other_area=Metric("interpret_video_retrieval", "gradcam.peak_on.other_area", ".2f",
                              varies=False),
            r1=Metric("interpret_video_retrieval", "v2t/R@1"))),
    Row("interpretability_video_captioning", "interpretability of the default video "
        "captioner (CNN per frame + temporal Transformer + Transformer decoder): each generated "
        "word's cross-attention over the 8 frames, pointing game over time for event words (on "
        "the two frames beside the boundary) and words naming only the other object (on the "
        "frames showing it), greedy captions of 200 test clips",
        "`python -m mmjax.interpret --workdir runs/video_captioning --method cross_attention`",
        runs=(Run("interpret_video_captioning", VIDEO_CAPTIONING, "configs/video_captioning.py",
                  then=(explained("cross_attention"),)),),
        result="event words: hits {event} of {n_event} (the same model untrained {event_init}, "
               "a random frame {event_random}, the best fixed frame in hindsight "
               "{event_fixed}); words naming the other object: hits {other} of {n_other} "
               "(untrained {other_init}, a random frame {other_random}, the best fixed frame "
               "{other_fixed}); the greedy captions' event word right {event_acc}",
        metrics=dict(
            **words_over_time("interpret_video_captioning", f"cross_attention.{EVENT_WORDS}",
                              "event"),
            **words_over_time("interpret_video_captioning", f"cross_attention.{OTHER_WORDS}",
                              "other"),
            event_acc=Metric("interpret_video_captioning", "greedy/motion/event_accuracy"))),
    Row("interpretability_pretrain_finetune", "interpretability of the default pretrain -> "
        "fine-tune classifiers (the first object's colour, 100 labels; ViT tower): attention "
        "rollout for the predicted colour, from the CLIP-pretrained tower and from scratch, "
        "pointing game on that object, 200 test scenes",
        "`python -m mmjax.interpret --workdir runs/pf/finetune --method rollout` (and "
        "`runs/pf/scratch`)",
        runs=(Run("interpret_pretrain_finetune", PRETRAIN, "configs/pretrain_finetune.py",
                  # The tiny preset's tower is a CNN.
                  cheap_overrides={"stages.pretrain.model.image.name": "vit"},
                  then=(explained("rollout", "finetune"), explained("rollout", "scratch"))),),
        result="hits {ft} from the pretrained tower, {sc} from scratch (the same classifier "
               "untrained {init}, a random map {random}, the centre pixel {centre}, the best "
               "fixed pixel in hindsight {fixed}); accuracy {ft_acc} / {sc_acc}",
        metrics=dict(
            ft=Metric("interpret_pretrain_finetune", "finetune_rollout.pointing_game.hit_rate"),
            sc=Metric("interpret_pretrain_finetune", "scratch_rollout.pointing_game.hit_rate"),
            init=Metric("interpret_pretrain_finetune",
                        "finetune_rollout.pointing_game.untrained_model"),
            random=Metric("interpret_pretrain_finetune",
                          "finetune_rollout.pointing_game.random_baseline", varies=False),
            centre=Metric("interpret_pretrain_finetune",
                          "finetune_rollout.pointing_game.centre_baseline", ".2f",
                          varies=False),
            fixed=Metric("interpret_pretrain_finetune",
                         "finetune_rollout.pointing_game.best_fixed_baseline", ".2f",
                         varies=False),
            ft_acc=Metric("interpret_pretrain_finetune", "finetune/accuracy"),
            sc_acc=Metric("interpret_pretrain_finetune", "scratch/accuracy"))),
    Row("interpretability_text_judge", "interpretability of the caption route's text judge (a "
        "GRU naming the first object's shape, colour and size from a caption of a two-object "
        "scene): integrated gradients over its word embeddings for each head's predicted class, "
        "pointing game on the word naming that attribute of that object, 200 real test captions "
        "(those naming the first object's phrase once)",
        "`python -m mmjax.interpret --workdir runs/t2c/text_classifier --method "
        "integrated_gradients`",
        runs=(Run("interpret_text_judge", TRANSLATION, "configs/translation.py:caption_route",
                  cheap_config="configs/translation.py:tiny",
                  # two objects, so that captions may name the first one second
                  cheap_overrides={"mode": "caption_route",
                                   "data.source.shapes.max_objects": "2"},
                  then=(explained("integrated_gradients", "text_classifier"),)),),
        result="peak on the word: shape {shape}, colour {all}, size {size} of {n} captions "
               "(a random word {random}, the best fixed position in hindsight {fixed}, the "
               "colour head untrained {init}); on the other object's word instead {other}; on "
               "the {n2} captions naming the first object second, colour {second}",
        metrics=dict(
            **{a: Metric("interpret_text_judge",
                         f"text_classifier_integrated_gradients.pointing_game_{a}.hit_rate")
               for a in ("shape", "size")},
            **pointing("interpret_text_judge", TEXT_GAME, untrained=True, centre=False),
            other=Metric("interpret_text_judge", f"{TEXT_GAME}.other_object"),
            n2=Metric("interpret_text_judge", f"{TEXT_GAME}.num_named_second", ".0f",
                      varies=False),
            second=Metric("interpret_text_judge", f"{TEXT_GAME}.hit_rate_named_second"))),
    Row("interpretability_speech", "interpretability of the default speech recogniser (AST + "
        "CTC): for each word it writes that its caption says once, gradient-weighted rollout "
        "at the emitting frame less the identity, pointing game over time, 200 test clips",
        "`python -m mmjax.interpret --workdir runs/asr --method rollout`",
        # The tiny preset's 6 steps write no word yet; 60 do.
        runs=(Run("interpret_speech", ASR, "configs/speech_recognition.py",
                  cheap_overrides={"total_steps": "60", "checkpoint.every_steps": "60"},
                  then=(explained("rollout"),)),),
        result="peak inside the word {all} of {n} words (a random patch {random}, the best fixed "
               "patch {fixed}, the emitting frame itself {emit})",
        metrics=dict(
            all=Metric("interpret_speech", "rollout.pointing_game.hit_rate"),
            n=Metric("interpret_speech", "rollout.pointing_game.num_maps", ".0f", tol=None),
            random=Metric("interpret_speech", "rollout.pointing_game.random_baseline"),
            fixed=Metric("interpret_speech", "rollout.pointing_game.best_fixed_baseline", ".2f"),
            emit=Metric("interpret_speech",
                        "rollout.pointing_game.emitting_frame_baseline"))),
)
