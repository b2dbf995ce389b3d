"""The results rows that look inside a trained model: accuracy with a modality missing at test
time (fusion classification, AV event localisation), the pointing game of its maps
(interpretability: maps_targets.py's rows), and its cognitive profile.

They are rows of the README's results table like those of targets.py, which places them
after the fusion rows; the same one-block-per-row format (targets.py's docstring).
"""

from mmjax.reproduce.experiment_runs import (AGREEMENT_CHEAP, AV_EVENTS, CAPTIONING,
                                             CONTRASTIVE, FUSION_TASK, VQA, fusion_run)
from mmjax.reproduce.maps_targets import MAPS_TARGETS, explained
from mmjax.reproduce.spec import FollowUp, Metric, Row, Run

PLACEHOLDERS = {"model.missing.placeholders": "True"}
MODALITY_DROPOUT = {"model.missing.modality_dropout": "0.3"}


def ability(run: str, name: str, key: str = "score", **kw) -> Metric:
  """A field of the cognitive profile (`profiled`) of run `run`: ability `name`'s score or
  chance."""
  return Metric(run, f"profile.abilities.{name}.{key}", **kw)


def profiled(experiment: str) -> FollowUp:
  """experiments/cognitive_profile.py on a finished run: its profile.json."""
  return FollowUp("profile", ("experiments/cognitive_profile.py", "--experiment", experiment),
                  "profile/profile.json")


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
    *MAPS_TARGETS,
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
