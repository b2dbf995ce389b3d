"""The results rows that look inside a trained model: accuracy with a modality missing at test
time (fusion classification, AV event localisation), the pointing game of its maps
(interpretability), and its cognitive profile.

They are rows of the README's results table like those of targets.py, which places them
after the fusion rows; the same one-block-per-row format (targets.py's docstring).
"""

import os

from mmjax.reproduce.experiment_runs import (AGREEMENT_CHEAP, ASR, AV_EVENTS, CAPTIONING,
                                             CONTRASTIVE, FUSION_TASK, PRETRAIN, SYNERGY_CHEAP,
                                             VIDEO, VIDEO_CAPTIONING, VIDEO_RETRIEVAL, VQA,
                                             fusion_run)
from mmjax.reproduce.spec import FollowUp, Metric, Row, Run

AUDIO_ENCODER = "model.encoders.audio.name"  # the tiny preset's wave_cnn has no attention maps
PLACEHOLDERS = {"model.missing.placeholders": "True"}
MODALITY_DROPOUT = {"model.missing.modality_dropout": "0.3"}
# mmjax/interpret/video_captions.py's games: which words a captioner writes, and so their
# counts and baselines, vary with the seed.
EVENT_WORDS, OTHER_WORDS = "pointing_game_event_words", "pointing_game_other_object_words"


def ability(run: str, name: str, key: str = "score", **kw) -> Metric:
  """A field of the cognitive profile (`profiled`) of run `run`: ability `name`'s score or
  chance."""
  return Metric(run, f"profile.abilities.{name}.{key}", **kw)


def profiled(experiment: str) -> FollowUp:
  """experiments/cognitive_profile.py on a finished run: its profile.json."""
  return FollowUp("profile", ("experiments/cognitive_profile.py", "--experiment", experiment),
                  "profile/profile.json")


def explained(method: str, stage: str = "") -> FollowUp:
  """`python -m mmjax.interpret --method <method>` on a finished run (or its stage `stage`):
  its scores.json, as the run's results' "<method>" (or "<stage>_<method>")."""
  where = os.path.join(stage, "interpret", method, "scores.json")
  return FollowUp(f"{stage}_{method}" if stage else method,
                  ("-m", "mmjax.interpret", "--method", method), where, stage)


def pointing(run: str, game: str, untrained: bool = False) -> dict:
  """The metrics of pointing game `game` (e.g. "gradcam.pointing_game") of run `run`: its hit
  rate ("all"), number of maps ("n"), baselines ("random", "centre", "fixed": the same for
  every seed) and, with untrained, the same model untrained's hit rate ("init")."""
  out = dict(all=Metric(run, f"{game}.hit_rate"),
             n=Metric(run, f"{game}.num_maps", ".0f", varies=False),
             random=Metric(run, f"{game}.random_baseline", varies=False),
             centre=Metric(run, f"{game}.centre_baseline", ".2f", varies=False),
             fixed=Metric(run, f"{game}.best_fixed_baseline", ".2f", varies=False))
  if untrained:
    out["init"] = Metric(run, f"{game}.untrained_model")
  return out


INSPECTION_TARGETS = (
    Row("missing_modalities", "missing modalities: `redundant` and `unique` tasks, image + "
        "audio, `concat_late` with learned stand-ins, trained without / with modality dropout "
        "0.3; a modality left out of every test example",
        "`python experiments/fusion_classification.py --config configs/fusion.py --workdir "
        "runs/fusion_moddrop --config.model.missing.placeholders=True "
        "--config.model.missing.modality_dropout=0.3` (and `configs/fusion.py:unique`)",
        runs=(fusion_run("missing_redundant", **PLACEHOLDERS),
              fusion_run("missing_redundant_dropout", **PLACEHOLDERS, **MODALITY_DROPOUT),
              fusion_run("missing_unique", "unique", {FUSION_TASK: "unique_audio"},
                         **PLACEHOLDERS),
              fusion_run("missing_unique_dropout", "unique", {FUSION_TASK: "unique_audio"},
                         **PLACEHOLDERS, **MODALITY_DROPOUT)),
        result="`redundant`: both {r} / {rd}, without image {r_image} / {rd_image}, without "
               "audio {r_audio} / {rd_audio} (Bayes-optimal {bayes}, from one modality "
               "{unimodal_bayes}); `unique` (the label is only spoken): both {u} / {ud}, "
               "without image {u_image} / {ud_image}, without audio {u_audio} / {ud_audio} "
               "(chance {chance})",
        metrics=dict(
            r=Metric("missing_redundant", "accuracy"),
            rd=Metric("missing_redundant_dropout", "accuracy"),
            r_image=Metric("missing_redundant", "missing_image/accuracy"),
            rd_image=Metric("missing_redundant_dropout", "missing_image/accuracy"),
            r_audio=Metric("missing_redundant", "missing_audio/accuracy"),
            rd_audio=Metric("missing_redundant_dropout", "missing_audio/accuracy"),
            bayes=Metric("missing_redundant", "bayes_optimal", varies=False),
            unimodal_bayes=Metric("missing_redundant", "unimodal_bayes.image", ".4g",
                                  varies=False),
            u=Metric("missing_unique", "accuracy"),
            ud=Metric("missing_unique_dropout", "accuracy"),
            u_image=Metric("missing_unique", "missing_image/accuracy"),
            ud_image=Metric("missing_unique_dropout", "missing_image/accuracy"),
            u_audio=Metric("missing_unique", "missing_audio/accuracy"),
            ud_audio=Metric("missing_unique_dropout", "missing_audio/accuracy"),
            chance=Metric("missing_unique", "chance", ".3g", varies=False))),
    Row("missing_av_events", "missing modalities, audio-visual event localisation: video + "
        "audio, `concat` with a learned stand-in per segment, trained without / with modality "
        "dropout 0.3; a modality left out of every test clip",
        "`python experiments/av_event_localisation.py --config configs/av_events.py --workdir "
        "runs/ave_moddrop --config.model.missing.placeholders=True "
        "--config.model.missing.modality_dropout=0.3`",
        runs=(Run("missing_av_events", AV_EVENTS, "configs/av_events.py",
                  overrides=PLACEHOLDERS),
              Run("missing_av_events_dropout", AV_EVENTS, "configs/av_events.py",
                  overrides={**PLACEHOLDERS, **MODALITY_DROPOUT})),
        result="exact (the right segment, or none) with both {b} / {bd}, without video {v} / "
               "{vd}, without audio {a} / {ad} (audio alone can reach {l_audio}, video alone "
               "{l_video}, chance {chance}); detection (an event or not) without video {dv} / "
               "{dvd}, without audio {da} / {dad} (either alone can reach {l_det})",
        metrics=dict(
            b=Metric("missing_av_events", "exact"),
            bd=Metric("missing_av_events_dropout", "exact"),
            v=Metric("missing_av_events", "missing_video/exact"),
            vd=Metric("missing_av_events_dropout", "missing_video/exact"),
            a=Metric("missing_av_events", "missing_audio/exact"),
            ad=Metric("missing_av_events_dropout", "missing_audio/exact"),
            l_audio=Metric("missing_av_events", "limits.audio_only.exact", ".3g", varies=False),
            l_video=Metric("missing_av_events", "limits.video_only.exact", ".3g", varies=False),
            chance=Metric("missing_av_events", "limits.chance.exact", ".3g", varies=False),
            dv=Metric("missing_av_events", "missing_video/detection"),
            dvd=Metric("missing_av_events_dropout", "missing_video/detection"),
            da=Metric("missing_av_events", "missing_audio/detection"),
            dad=Metric("missing_av_events_dropout", "missing_audio/detection"),
            l_det=Metric("missing_av_events", "limits.audio_only.detection", ".3g",
                         varies=False))),
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
            event=Metric("interpret_video_captioning",
                         f"cross_attention.{EVENT_WORDS}.hit_rate"),
            n_event=Metric("interpret_video_captioning",
                           f"cross_attention.{EVENT_WORDS}.num_maps", ".0f", tol=None),
            event_init=Metric("interpret_video_captioning",
                              f"cross_attention.{EVENT_WORDS}.untrained_model"),
            event_random=Metric("interpret_video_captioning",
                                f"cross_attention.{EVENT_WORDS}.random_baseline", ".2f",
                                tol=None),
            event_fixed=Metric("interpret_video_captioning",
                               f"cross_attention.{EVENT_WORDS}.best_fixed_baseline", ".2f",
                               tol=None),
            other=Metric("interpret_video_captioning",
                         f"cross_attention.{OTHER_WORDS}.hit_rate"),
            n_other=Metric("interpret_video_captioning",
                           f"cross_attention.{OTHER_WORDS}.num_maps", ".0f", tol=None),
            other_init=Metric("interpret_video_captioning",
                              f"cross_attention.{OTHER_WORDS}.untrained_model"),
            other_random=Metric("interpret_video_captioning",
                                f"cross_attention.{OTHER_WORDS}.random_baseline", ".2f",
                                tol=None),
            other_fixed=Metric("interpret_video_captioning",
                               f"cross_attention.{OTHER_WORDS}.best_fixed_baseline", ".2f",
                               tol=None),
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
    Row("inside_contrastive", "the default contrastive model looked inside: where it finds a "
        "caption of one object (gradient-weighted rollout of the image-text similarity, "
        "pointing game on that object, 200 test images) and its cognitive profile (a caption "
        "against a foil differing in one word)",
        "`python -m mmjax.interpret --workdir runs/contrastive --method rollout`; "
        "`python experiments/cognitive_profile.py --experiment contrastive --workdir "
        "runs/contrastive`",
        runs=(Run("inside_contrastive", CONTRASTIVE, "configs/contrastive.py",
                  then=(explained("rollout"), profiled("contrastive"))),),
        result="hits {all} of the {n} queries (a random map {random}, the centre pixel {centre}, "
               "the best fixed pixel {fixed}, the best text-blind map {blind}); in two-object "
               "scenes {multi} (text-blind best {m_blind}), each object of the scene hit "
               "{every} (text-blind {e_blind}); plain rollout, blind to the text: {control} / "
               "{c_every}. Profile: colour / shape / size / counting / relations {p_col} / "
               "{p_sha} / {p_siz} / {p_cnt} / {p_rel}, held-out pairs {p_comp}, image noise "
               "{p_noise} (chance {p_chance} each)",
        metrics=dict(
            all=Metric("inside_contrastive", "rollout.pointing_game.hit_rate"),
            n=Metric("inside_contrastive", "rollout.num_queries", ".0f", varies=False),
            random=Metric("inside_contrastive", "rollout.pointing_game.random_baseline",
                          varies=False),
            centre=Metric("inside_contrastive", "rollout.pointing_game.centre_baseline", ".2f",
                          varies=False),
            fixed=Metric("inside_contrastive", "rollout.pointing_game.best_fixed_baseline",
                         ".2f", varies=False),
            blind=Metric("inside_contrastive", "rollout.pointing_game.query_blind_ceiling",
                         ".2f", varies=False),
            multi=Metric("inside_contrastive",
                         "rollout.pointing_game_multi_object.hit_rate"),
            m_blind=Metric("inside_contrastive",
                           "rollout.pointing_game_multi_object.query_blind_ceiling", ".2f",
                           varies=False),
            every=Metric("inside_contrastive",
                         "rollout.pointing_game_multi_object.every_query_hit.rate"),
            e_blind=Metric("inside_contrastive", "rollout.pointing_game_multi_object."
                                                 "every_query_hit.query_blind_ceiling", ".2f",
                           varies=False),
            control=Metric("inside_contrastive",
                           "rollout.rollout_control.pointing_game_multi_object.hit_rate"),
            c_every=Metric("inside_contrastive", "rollout.rollout_control."
                                                 "pointing_game_multi_object.every_query_hit.rate"),
            p_col=ability("inside_contrastive", "perception/colour"),
            p_sha=ability("inside_contrastive", "perception/shape"),
            p_siz=ability("inside_contrastive", "perception/size"),
            p_cnt=ability("inside_contrastive", "counting"),
            p_rel=ability("inside_contrastive", "spatial_relations"),
            p_comp=ability("inside_contrastive", "compositional"),
            p_noise=ability("inside_contrastive", "noise_robustness"),
            p_chance=ability("inside_contrastive", "perception/colour", "chance", fmt=".3g",
                             varies=False))),
    Row("cognitive_profile", "cognitive profile (`experiments/cognitive_profile.py`) of the "
        "default VQA, captioning and `redundant` fusion runs and an `agreement` run: each "
        "ability's score, its chance in brackets (the table under Cognitive abilities says "
        "what each measures)",
        "`python experiments/cognitive_profile.py --experiment vqa --workdir runs/vqa` (and "
        "`captioning`, `fusion_classification`)",
        runs=(Run("profile_vqa", VQA, "configs/vqa.py", then=(profiled("vqa"),)),
              Run("profile_captioning", CAPTIONING, "configs/captioning.py",
                  cheap_overrides={"total_steps": "150", "checkpoint.every_steps": "150"},
                  then=(profiled("captioning"),)),
              fusion_run("profile_fusion", then=(profiled("fusion_classification"),)),
              fusion_run("profile_agreement", "agreement", AGREEMENT_CHEAP,
                         then=(profiled("fusion_classification"),))),
        result="VQA: colour / shape / size / counting / relations {v_col} / {v_sha} / {v_siz} / "
               "{v_cnt} / {v_rel} ({vc_col} / {vc_sha} / {vc_siz} / {vc_cnt} / {vc_rel}), "
               "held-out pairs {v_comp}, image noise {v_noise}, ECE {v_ece}; captioning: "
               "colour / shape / size / counting {c_col} / {c_sha} / {c_siz} / {c_cnt} "
               "({cc_col} / {cc_sha} / {cc_siz} / {cc_cnt}), held-out pairs {c_comp}, image "
               "noise {c_noise}; fusion `redundant`: shape {f_sha} (0.25), held-out pairs "
               "{f_comp}, noise {f_noise}, ECE {f_ece}; `agreement`: cross-modal {a_cross} "
               "(0.5), noise {a_noise}, ECE {a_ece}",
        metrics=dict(
            v_col=ability("profile_vqa", "perception/colour"),
            v_sha=ability("profile_vqa", "perception/shape"),
            v_siz=ability("profile_vqa", "perception/size"),
            v_cnt=ability("profile_vqa", "counting"),
            v_rel=ability("profile_vqa", "spatial_relations"),
            vc_col=ability("profile_vqa", "perception/colour", "chance", varies=False),
            vc_sha=ability("profile_vqa", "perception/shape", "chance", varies=False),
            vc_siz=ability("profile_vqa", "perception/size", "chance", varies=False),
            vc_cnt=ability("profile_vqa", "counting", "chance", varies=False),
            vc_rel=ability("profile_vqa", "spatial_relations", "chance", varies=False),
            v_comp=ability("profile_vqa", "compositional"),
            v_noise=ability("profile_vqa", "noise_robustness"),
            v_ece=ability("profile_vqa", "calibration"),
            c_col=ability("profile_captioning", "perception/colour"),
            c_sha=ability("profile_captioning", "perception/shape"),
            c_siz=ability("profile_captioning", "perception/size"),
            c_cnt=ability("profile_captioning", "counting"),
            cc_col=ability("profile_captioning", "perception/colour", "chance", varies=False),
            cc_sha=ability("profile_captioning", "perception/shape", "chance", varies=False),
            cc_siz=ability("profile_captioning", "perception/size", "chance", varies=False),
            cc_cnt=ability("profile_captioning", "counting", "chance", varies=False),
            c_comp=ability("profile_captioning", "compositional"),
            c_noise=ability("profile_captioning", "noise_robustness"),
            f_sha=ability("profile_fusion", "perception/shape"),
            f_comp=ability("profile_fusion", "compositional"),
            f_noise=ability("profile_fusion", "noise_robustness"),
            f_ece=ability("profile_fusion", "calibration"),
            a_cross=ability("profile_agreement", "cross_modal"),
            a_noise=ability("profile_agreement", "noise_robustness"),
            a_ece=ability("profile_agreement", "calibration"))),
)
