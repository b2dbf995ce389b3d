"""The reproduction targets: every row of the README's results table, and the sweeps.

Adding an experiment is one block: its run(s), the row's first two cells, the result template
and one `Metric` per number (results.json field, format; `varies=False` for a number no seed
changes, tol=None for one shown unchecked). Each synthetic row runs over seeds 0, 1, 2 and
`--check` derives its tolerances from the spread README shows (`tables.tolerance`). The expected
numbers are read from README.md by the same template, so they are not repeated here. A sweep is
`Sweep(name, title, config, cheap_config)`: its summary.md table goes under the results table.
The rows that look inside a model (missing modalities, interpretability, cognitive profile)
are in inspection_targets.py, the run builders they share in experiment_runs.py.
"""

from mmjax.reproduce.experiment_runs import (AGREEMENT_CHEAP, ASR, AV_EVENTS, CAPTIONING,
                                             CONTRASTIVE, FUSION_TASK, PRETRAIN, SYNERGY_CHEAP,
                                             TRANSLATION, VIDEO, VIDEO_CAPTIONING,
                                             VIDEO_RETRIEVAL, VQA, fusion_run)
from mmjax.reproduce.inspection_targets import INSPECTION_TARGETS
from mmjax.reproduce.spec import Metric, Row, Run, Sweep

# The lstm preset's decoder options differ from tiny's, so its cheap run shrinks the preset.
LSTM_CHEAP = {"batch_size": "16", "total_steps": "4", "log_every_steps": "2",
              "checkpoint.every_steps": "4", "schedule.warmup_steps": "1",
              "model.image.vit.width": "32", "model.image.vit.depth": "1",
              "model.image.vit.num_heads": "2", "model.image.vit.mlp_dim": "64",
              "model.decoder.lstm.embed_dim": "16", "model.decoder.lstm.hidden": "32",
              "eval.num_examples": "16", "eval.batch_size": "16"}

TARGETS = (
    Row("contrastive", "contrastive (CLIP softmax), 1000 pairs of the test split",
        "`python experiments/contrastive.py --config configs/contrastive.py --workdir "
        "runs/contrastive`",
        runs=(Run("contrastive", CONTRASTIVE, "configs/contrastive.py"),),
        result="image->text R@1 = {i2t}, text->image R@1 = {t2i} (chance {chance}); scenes "
               "with a held-out pair {c_i2t} / {c_t2i} (chance {c_chance}); zero-shot on the "
               "{zs_n} one-object images, training templates / novel wordings: colour "
               "{zs_colour} / {zsn_colour} (chance {zs_colour_chance}), shape {zs_shape} / "
               "{zsn_shape} (chance {zs_shape_chance}); on the {mo_n} two-object images, either "
               "object's class: colour {mo_colour} (chance {mo_colour_chance}), shape {mo_shape} "
               "(chance {mo_shape_chance}); linear probe colour {probe_colour}, shape "
               "{probe_shape}; test captions seen in training {seen} (held-out scenes {c_seen})",
        metrics=dict(
            i2t=Metric("contrastive", "i2t/R@1"),
            t2i=Metric("contrastive", "t2i/R@1"),
            chance=Metric("contrastive", "i2t/chance_R@1", varies=False),
            c_i2t=Metric("contrastive", "compositional/i2t/R@1"),
            c_t2i=Metric("contrastive", "compositional/t2i/R@1"),
            c_chance=Metric("contrastive", "compositional/i2t/chance_R@1", varies=False),
            zs_n=Metric("contrastive", "zero_shot/colour/num_images", ".0f", varies=False),
            zs_colour=Metric("contrastive", "zero_shot/colour/top1"),
            zsn_colour=Metric("contrastive", "zero_shot_novel/colour/top1"),
            zs_colour_chance=Metric("contrastive", "zero_shot/colour/chance_top1", ".3g",
                                    varies=False),
            zs_shape=Metric("contrastive", "zero_shot/shape/top1"),
            zsn_shape=Metric("contrastive", "zero_shot_novel/shape/top1"),
            zs_shape_chance=Metric("contrastive", "zero_shot/shape/chance_top1", ".3g",
                                   varies=False),
            mo_n=Metric("contrastive", "zero_shot/colour/multi_object/num_images", ".0f",
                        varies=False),
            mo_colour=Metric("contrastive", "zero_shot/colour/multi_object/top1_any"),
            mo_colour_chance=Metric("contrastive",
                                    "zero_shot/colour/multi_object/chance_top1_any",
                                    varies=False),
            mo_shape=Metric("contrastive", "zero_shot/shape/multi_object/top1_any"),
            mo_shape_chance=Metric("contrastive", "zero_shot/shape/multi_object/chance_top1_any",
                                   varies=False),
            probe_colour=Metric("contrastive", "linear_probe/colour/accuracy"),
            probe_shape=Metric("contrastive", "linear_probe/shape/accuracy"),
            seen=Metric("contrastive", "test_captions_seen_in_training", ".2f", varies=False),
            c_seen=Metric("contrastive", "compositional/test_captions_seen_in_training", ".2f",
                          varies=False))),
    Row("captioning", "captioning, ViT + Transformer decoder, 500 test scenes x 4 references",
        "`python experiments/captioning.py --config configs/captioning.py --workdir "
        "runs/captioning`",
        runs=(Run("captioning", CAPTIONING, "configs/captioning.py"),),
        result="greedy BLEU-1/4 = {g_b1} / {g_b4}, CIDEr-D {g_cider}; beam 3: {b_b1} / {b_b4}, "
               "CIDEr-D {b_cider} (a true caption of the wrong image: BLEU-4 {s_b4}, CIDEr-D "
               "{s_cider}); scenes with a held-out pair: greedy BLEU-4 {c_b4}, CIDEr-D "
               "{c_cider}; test captions seen in training {seen} (held-out scenes {c_seen})",
        metrics=dict(
            c_b4=Metric("captioning", "compositional/greedy/BLEU-4"),
            c_cider=Metric("captioning", "compositional/greedy/CIDEr-D", ".2f"),
            seen=Metric("captioning", "test_captions_seen_in_training", ".2f", varies=False),
            c_seen=Metric("captioning", "compositional/test_captions_seen_in_training", ".2f",
                          varies=False),
            g_b1=Metric("captioning", "greedy/BLEU-1"),
            g_b4=Metric("captioning", "greedy/BLEU-4"),
            g_cider=Metric("captioning", "greedy/CIDEr-D", ".2f"),
            b_b1=Metric("captioning", "beam3/BLEU-1"),
            b_b4=Metric("captioning", "beam3/BLEU-4"),
            b_cider=Metric("captioning", "beam3/CIDEr-D", ".2f"),
            s_b4=Metric("captioning", "shuffled/BLEU-4", varies=False),
            s_cider=Metric("captioning", "shuffled/CIDEr-D", ".2f", varies=False))),
    Row("captioning_lstm", "captioning, LSTM decoder",
        "`... --config configs/captioning.py:lstm --workdir runs/captioning_lstm`",
        runs=(Run("captioning_lstm", CAPTIONING, "configs/captioning.py:lstm",
                  cheap_config="configs/captioning.py:lstm", cheap_overrides=LSTM_CHEAP),),
        result="greedy BLEU-4 {g_b4}, CIDEr-D {g_cider}; beam 3: {b_b4}, {b_cider}",
        metrics=dict(
            g_b4=Metric("captioning_lstm", "greedy/BLEU-4"),
            g_cider=Metric("captioning_lstm", "greedy/CIDEr-D", ".2f"),
            b_b4=Metric("captioning_lstm", "beam3/BLEU-4"),
            b_cider=Metric("captioning_lstm", "beam3/CIDEr-D", ".2f"))),
    Row("speech_recognition", "speech recognition, AST + CTC, 512 test clips",
        "`python experiments/speech_recognition.py --config configs/speech_recognition.py "
        "--workdir runs/asr`",
        runs=(Run("speech_recognition", ASR, "configs/speech_recognition.py"),),
        result="WER {g_wer} greedy, {b_wer} prefix beam (4); CER {g_cer} / {b_cer} (most "
               "frequent caption: WER {baseline})",
        metrics=dict(
            g_wer=Metric("speech_recognition", "greedy/wer"),
            b_wer=Metric("speech_recognition", "beam/wer"),
            g_cer=Metric("speech_recognition", "greedy/cer"),
            b_cer=Metric("speech_recognition", "beam/cer"),
            baseline=Metric("speech_recognition", "baseline/wer", ".2f", varies=False))),
    Row("fusion_redundant", "fusion, `redundant` task, image + audio, `concat_late`; (circle, "
        "red) and (triangle, blue) never in training",
        "`python experiments/fusion_classification.py --config configs/fusion.py --workdir "
        "runs/fusion`",
        runs=(fusion_run("fusion_redundant"),
              fusion_run("fusion_redundant_image", **{"model.modalities": "image"}),
              fusion_run("fusion_redundant_audio", **{"model.modalities": "audio"})),
        result="accuracy {acc} (chance {chance}, Bayes-optimal {bayes}); image alone {image}, "
               "audio alone {audio} (`--config.model.modalities=image` / `=audio`; unimodal "
               "Bayes {unimodal_bayes}); scenes with a held-out pair {comp}",
        metrics=dict(
            acc=Metric("fusion_redundant", "accuracy"),
            chance=Metric("fusion_redundant", "chance", ".3g", varies=False),
            bayes=Metric("fusion_redundant", "bayes_optimal", varies=False),
            image=Metric("fusion_redundant_image", "accuracy"),
            audio=Metric("fusion_redundant_audio", "accuracy"),
            unimodal_bayes=Metric("fusion_redundant", "unimodal_bayes.image", ".4g",
                                  varies=False),
            comp=Metric("fusion_redundant", "compositional/accuracy"))),
    Row("fusion_synergy", "fusion, `synergy` task, image + caption",
        "`python experiments/fusion_classification.py --config configs/fusion.py:synergy "
        "--workdir runs/synergy`",
        runs=(fusion_run("fusion_synergy", "synergy", SYNERGY_CHEAP),
              fusion_run("fusion_synergy_lrt", "synergy", SYNERGY_CHEAP,
                         **{"model.fusion.name": "low_rank_tensor"}),
              fusion_run("fusion_synergy_image", "synergy", SYNERGY_CHEAP,
                         **{"model.modalities": "image"}),
              fusion_run("fusion_synergy_text", "synergy", SYNERGY_CHEAP,
                         **{"model.modalities": "text"})),
        result="accuracy {acc} (`low_rank_tensor`: {lrt}); image alone {image}, text alone "
               "{text} (chance {chance})",
        metrics=dict(
            acc=Metric("fusion_synergy", "accuracy"),
            lrt=Metric("fusion_synergy_lrt", "accuracy"),
            image=Metric("fusion_synergy_image", "accuracy"),
            text=Metric("fusion_synergy_text", "accuracy"),
            chance=Metric("fusion_synergy", "chance", ".3g", varies=False))),
    Row("fusion_unique", "fusion, `unique` task, image + audio",
        "`python experiments/fusion_classification.py --config configs/fusion.py:unique "
        "--workdir runs/unique`",
        runs=(fusion_run("fusion_unique", "unique", {FUSION_TASK: "unique_audio"}),),
        result="accuracy {acc} (chance {chance})",
        metrics=dict(acc=Metric("fusion_unique", "accuracy"),
                     chance=Metric("fusion_unique", "chance", ".3g", varies=False))),
    Row("fusion_agreement", "three modalities, `agreement` task: image + caption text + its "
        "speech, `concat_late`",
        "`python experiments/fusion_classification.py --config configs/fusion.py:agreement "
        "--workdir runs/agreement`",
        runs=(fusion_run("agreement", "agreement", AGREEMENT_CHEAP),
              *(fusion_run(f"agreement_{'_'.join(m)}", "agreement", AGREEMENT_CHEAP,
                           **{"model.modalities": ",".join(m)})
                for m in (("image", "text"), ("image", "audio"), ("text", "audio"),
                          ("image",), ("text",), ("audio",)))),
        result="accuracy {acc} (Bayes-optimal {bayes}); two modalities: image + text {it}, "
               "image + audio {ia}, text + audio {ta} (Bayes-optimal {pair_bayes}); one: image "
               "{i}, text {t}, audio {a} (chance {chance}); scenes with a held-out pair {comp}",
        metrics=dict(
            acc=Metric("agreement", "accuracy"),
            bayes=Metric("agreement", "bayes_optimal", ".3g", varies=False),
            it=Metric("agreement_image_text", "accuracy"),
            ia=Metric("agreement_image_audio", "accuracy"),
            ta=Metric("agreement_text_audio", "accuracy"),
            pair_bayes=Metric("agreement_image_text", "bayes_optimal", varies=False),
            i=Metric("agreement_image", "accuracy"),
            t=Metric("agreement_text", "accuracy"),
            a=Metric("agreement_audio", "accuracy"),
            chance=Metric("agreement", "chance", ".3g", varies=False),
            comp=Metric("agreement", "compositional/accuracy"))),
    *INSPECTION_TARGETS,  # missing modalities, interpretability, cognitive profile
    Row("pretrain_finetune", "pretrain -> fine-tune, colour of the first object from 100 labels, "
        "1000 test images",
        "`python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py "
        "--workdir runs/pf`",
        runs=(Run("pretrain_finetune", PRETRAIN, "configs/pretrain_finetune.py"),),
        result="fine-tuned {ft}, from scratch {scratch}, linear probe of the pretrained tower "
               "{probe} (majority class {chance}); pretraining R@1 i2t {i2t} / t2i {t2i}",
        metrics=dict(
            ft=Metric("pretrain_finetune", "finetune/accuracy"),
            scratch=Metric("pretrain_finetune", "scratch/accuracy"),
            probe=Metric("pretrain_finetune", "linear_probe/accuracy"),
            chance=Metric("pretrain_finetune", "chance", varies=False),
            i2t=Metric("pretrain_finetune", "pretrain/i2t/R@1"),
            t2i=Metric("pretrain_finetune", "pretrain/t2i/R@1"))),
    Row("lit", "LiT: locked all-MiniLM-L6-v2 text tower vs a from-scratch one, 1000 test pairs",
        "`python experiments/pretrain_finetune.py --config configs/pretrain_finetune.py:lit "
        "--workdir runs/lit`",
        runs=(Run("lit", PRETRAIN, "configs/pretrain_finetune.py:lit",
                  cheap_config="configs/pretrain_finetune.py:lit_tiny"),),
        result="captions R@1 i2t/t2i {l_i2t} / {l_t2i} vs scratch {s_i2t} / {s_t2i}; paraphrased "
               "captions {lp_i2t} / {lp_t2i} vs {sp_i2t} / {sp_t2i}; zero-shot colour {l_zc} vs "
               "{s_zc}, shape {l_zs} vs {s_zs} (chance 0.25)",
        metrics=dict(
            l_i2t=Metric("lit", "lit/i2t/R@1"),
            l_t2i=Metric("lit", "lit/t2i/R@1"),
            s_i2t=Metric("lit", "scratch_text/i2t/R@1"),
            s_t2i=Metric("lit", "scratch_text/t2i/R@1"),
            lp_i2t=Metric("lit", "lit/paraphrase/i2t/R@1"),
            lp_t2i=Metric("lit", "lit/paraphrase/t2i/R@1"),
            sp_i2t=Metric("lit", "scratch_text/paraphrase/i2t/R@1"),
            sp_t2i=Metric("lit", "scratch_text/paraphrase/t2i/R@1"),
            l_zc=Metric("lit", "lit/zero_shot/colour/top1"),
            s_zc=Metric("lit", "scratch_text/zero_shot/colour/top1"),
            l_zs=Metric("lit", "lit/zero_shot/shape/top1"),
            s_zs=Metric("lit", "scratch_text/zero_shot/shape/top1"))),
    Row("vqa", "VQA, question + image, FiLM, 2000 test questions",
        "`python experiments/vqa.py --config configs/vqa.py --workdir runs/vqa`",
        runs=(Run("vqa", VQA, "configs/vqa.py"),),
        result="accuracy {acc} (colour {colour}, count {count}, exists {exists}, relation "
               "{relation}, shape {shape}, size {size}); question-only prior {prior}; {c_n} "
               "questions on scenes with a held-out pair {c_acc}",
        metrics=dict(
            c_acc=Metric("vqa", "compositional/accuracy"),
            c_n=Metric("vqa", "compositional/num_test_examples", ".0f", varies=False),
            acc=Metric("vqa", "accuracy"),
            colour=Metric("vqa", "per_type.colour"),
            count=Metric("vqa", "per_type.count"),
            exists=Metric("vqa", "per_type.exists"),
            relation=Metric("vqa", "per_type.relation"),
            shape=Metric("vqa", "per_type.shape"),
            size=Metric("vqa", "per_type.size"),
            prior=Metric("vqa", "prior_accuracy", varies=False))),
    Row("translation", "translation text->image, 200 test captions (attribute accuracy "
        "shape/colour/size/all; chance 0.25/0.17/0.50/0.02)",
        "`python experiments/translation.py --config configs/translation.py --workdir runs/t2i`",
        runs=(Run("translation", TRANSLATION, "configs/translation.py"),),
        result="generated images {g_shape}/{g_colour}/{g_size}/{g_all}; the same classifier on "
               "real images {r_shape}/{r_colour}/{r_size}/{r_all}",
        metrics=dict(
            g_shape=Metric("translation", "generator.generated_images.shape", ".2f"),
            g_colour=Metric("translation", "generator.generated_images.colour", ".2f"),
            g_size=Metric("translation", "generator.generated_images.size", ".2f"),
            g_all=Metric("translation", "generator.generated_images.all", ".2f"),
            r_shape=Metric("translation", "generator.real_images.shape", ".2f"),
            r_colour=Metric("translation", "generator.real_images.colour", ".2f"),
            r_size=Metric("translation", "generator.real_images.size", ".2f"),
            r_all=Metric("translation", "generator.real_images.all", ".2f"))),
    Row("caption_route", "translation image->caption->text classifier, 500 test images",
        "`python experiments/translation.py --config configs/translation.py:caption_route "
        "--workdir runs/caption_route`",
        runs=(Run("caption_route", TRANSLATION, "configs/translation.py:caption_route",
                  cheap_config="configs/translation.py:tiny",
                  cheap_overrides={"mode": "caption_route"}),),
        result="generated captions {c_shape}/{c_colour}/{c_size}/{c_all} (exact match {exact}); "
               "real captions {t_all}; image classifier on the images {i_shape}/{i_colour}/"
               "{i_size}/{i_all}",
        metrics=dict(
            c_shape=Metric("caption_route", "captioner.generated_captions.shape", ".2f"),
            c_colour=Metric("caption_route", "captioner.generated_captions.colour", ".2f"),
            c_size=Metric("caption_route", "captioner.generated_captions.size", ".2f"),
            c_all=Metric("caption_route", "captioner.generated_captions.all", ".2f"),
            exact=Metric("caption_route", "captioner.caption_exact_match", ".2f"),
            t_all=Metric("caption_route", "text_classifier.real_captions.all", ".2f"),
            i_shape=Metric("caption_route", "image_classifier.real_images.shape", ".2f"),
            i_colour=Metric("caption_route", "image_classifier.real_images.colour", ".2f"),
            i_size=Metric("caption_route", "image_classifier.real_images.size", ".2f"),
            i_all=Metric("caption_route", "image_classifier.real_images.all", ".2f"))),
    Row("video_classification", "video classification, the mover's direction from 8 frames "
        "(needs their order), CNN per frame + temporal Transformer, 500 test clips",
        "`python experiments/video_classification.py --config configs/video.py --workdir "
        "runs/video`",
        runs=(Run("video", VIDEO, "configs/video.py"),
              Run("video_mean", VIDEO, "configs/video.py:mean",
                  cheap_config="configs/video.py:mean,tiny")),
        result="accuracy {acc}, frames shuffled at test time {shuf} (chance {chance}, "
               "order-blind limit {blind}, Bayes-optimal {bayes}); frame features averaged "
               "(`:mean`) {mean}, shuffled {mean_shuf}; clips with a held-out pair {comp}",
        metrics=dict(
            acc=Metric("video", "accuracy"),
            shuf=Metric("video", "shuffled_frames/accuracy"),
            chance=Metric("video", "chance", ".3g", varies=False),
            blind=Metric("video", "order_blind", ".3g", varies=False),
            bayes=Metric("video", "bayes_optimal", ".3g", varies=False),
            mean=Metric("video_mean", "accuracy"),
            mean_shuf=Metric("video_mean", "shuffled_frames/accuracy"),
            comp=Metric("video", "compositional/accuracy"))),
    Row("video_retrieval", "video-text retrieval, CLIP-style, CNN per frame + temporal "
        "Transformer, 500 test clips",
        "`python experiments/video_retrieval.py --config configs/video_retrieval.py --workdir "
        "runs/video_retrieval`",
        runs=(Run("video_retrieval", VIDEO_RETRIEVAL, "configs/video_retrieval.py"),),
        result="video->text R@1 = {v2t}, text->video R@1 = {t2v} (chance {c_v2t} / {c_t2v}); "
               "a clip prefers its caption to the time-reversed one {rev} (order-blind 0.5), "
               "to one with only the direction swapped {dir}, only the event swapped {ev}; "
               "frames shuffled: R@1 {s_v2t} / {s_t2v}, time-reversed {s_rev}",
        metrics=dict(
            v2t=Metric("video_retrieval", "v2t/R@1"),
            t2v=Metric("video_retrieval", "t2v/R@1"),
            c_v2t=Metric("video_retrieval", "v2t/chance_R@1", varies=False),
            c_t2v=Metric("video_retrieval", "t2v/chance_R@1", varies=False),
            rev=Metric("video_retrieval", "time_reversed/accuracy"),
            dir=Metric("video_retrieval", "direction_swapped/accuracy"),
            ev=Metric("video_retrieval", "event_swapped/accuracy"),
            s_v2t=Metric("video_retrieval", "shuffled_frames/v2t/R@1"),
            s_t2v=Metric("video_retrieval", "shuffled_frames/t2v/R@1"),
            s_rev=Metric("video_retrieval", "shuffled_frames/time_reversed/accuracy"))),
    Row("video_captioning", "video captioning, CNN per frame + temporal Transformer + "
        "Transformer decoder, 500 test clips x every paraphrase",
        "`python experiments/video_captioning.py --config configs/video_captioning.py "
        "--workdir runs/video_captioning`",
        runs=(Run("video_captioning", VIDEO_CAPTIONING, "configs/video_captioning.py"),),
        result="greedy BLEU-4 {g_b4}, CIDEr-D {g_cider}, the caption's direction word right "
               "{g_dir}, event word {g_ev} (chance {c_dir} / {c_ev}, order-blind {o_dir} / "
               "{o_ev}); beam 3 BLEU-4 {b_b4}, CIDEr-D {b_cider}; frames shuffled (greedy): "
               "BLEU-4 {s_b4}, direction {s_dir}, event {s_ev}",
        metrics=dict(
            g_b4=Metric("video_captioning", "greedy/BLEU-4"),
            g_cider=Metric("video_captioning", "greedy/CIDEr-D", ".2f"),
            g_dir=Metric("video_captioning", "greedy/motion/direction_accuracy"),
            g_ev=Metric("video_captioning", "greedy/motion/event_accuracy"),
            c_dir=Metric("video_captioning", "motion/chance/direction_accuracy", ".3g",
                         varies=False),
            c_ev=Metric("video_captioning", "motion/chance/event_accuracy", ".3g", varies=False),
            o_dir=Metric("video_captioning", "motion/order_blind/direction_accuracy", ".3g",
                         varies=False),
            o_ev=Metric("video_captioning", "motion/order_blind/event_accuracy", ".3g",
                        varies=False),
            b_b4=Metric("video_captioning", "beam3/BLEU-4"),
            b_cider=Metric("video_captioning", "beam3/CIDEr-D", ".2f"),
            s_b4=Metric("video_captioning", "shuffled_frames/greedy/BLEU-4"),
            s_dir=Metric("video_captioning", "shuffled_frames/greedy/motion/direction_accuracy"),
            s_ev=Metric("video_captioning", "shuffled_frames/greedy/motion/event_accuracy"))),
    Row("av_events", "audio-visual event localisation: the segment (of 7) where an object "
        "appears or disappears as the tone sounds, or none; 500 test clips",
        "`python experiments/av_event_localisation.py --config configs/av_events.py "
        "--workdir runs/av_events`",
        runs=(Run("av_events", AV_EVENTS, "configs/av_events.py"),
              Run("av_events_video", AV_EVENTS, "configs/av_events.py",
                  overrides={"model.modalities": "video"}),
              Run("av_events_audio", AV_EVENTS, "configs/av_events.py",
                  overrides={"model.modalities": "audio"})),
        result="exact (the right segment, or none) {exact}, segment accuracy {seg} (chance "
               "{c_exact} / {c_seg}, Bayes-optimal {b_exact}); video alone {video} (its limit "
               "{l_video}), audio alone {audio} (its limit {l_audio})",
        metrics=dict(
            exact=Metric("av_events", "exact"),
            seg=Metric("av_events", "segment_accuracy"),
            c_exact=Metric("av_events", "limits.chance.exact", ".3g", varies=False),
            c_seg=Metric("av_events", "limits.chance.segment_accuracy", ".3g", varies=False),
            b_exact=Metric("av_events", "limits.bayes_optimal.exact", ".3g", varies=False),
            video=Metric("av_events_video", "exact"),
            l_video=Metric("av_events", "limits.video_only.exact", ".3g", varies=False),
            audio=Metric("av_events_audio", "exact"),
            l_audio=Metric("av_events", "limits.audio_only.exact", ".3g", varies=False))),
    # The shipped ablation sweeps (get_sweep in each config), shown as their summary.md tables.
    # The fusion sweep is one target per task so that each can be run (and resumed) alone.
    Sweep("captioning_sweep", "Captioning decoder: LSTM vs Transformer, 3 seeds",
          "configs/captioning.py", "configs/captioning.py:tiny"),
    Sweep("contrastive_sweep", "Contrastive loss (softmax vs sigmoid) x batch size, 3 seeds",
          "configs/contrastive.py", "configs/contrastive.py:tiny"),
    *(Sweep(f"fusion_sweep_{task}", f"Every fusion on the `{task}` task, 3 seeds",
            f"configs/fusion.py:{task}", "configs/fusion.py:tiny")
      for task in ("redundant", "unique", "synergy")),
    # Two trials at once: a trial's data (speech synthesis, rendering) is single-threaded.
    Sweep("fusion_sweep_agreement", "Every fusion that takes three inputs on the `agreement` "
          "task (image + text + audio), 3 seeds", "configs/fusion.py:agreement",
          "configs/fusion.py:tiny", args=("--parallel", "2")),
)
