"""The reproduction targets of the README's "Real data" block: `python -m mmjax.reproduce
--data_dir DIR`, from the manifests README's "Real data" section prepares into DIR/f8k
(Flickr8k) and DIR/avm (FSDD recordings + MNIST test digits, AV-MNIST-style). One seed each (a
Flickr8k run takes over an hour here), so their tolerances are hand-set margins for one seed's
run-to-run noise; the AV-MNIST maps row alone has three seeds, and measured tolerances. The
synthetic world's rows and the sweeps are in targets.py.
"""

from mmjax.reproduce.experiment_runs import CAPTIONING, PRETRAIN
from mmjax.reproduce.maps_targets import explained
from mmjax.reproduce.spec import Metric, Row, Run

F8K_LIT_CHEAP = {"data.source.name": "manifest", "eval.zero_shot_tasks": "()",
                 "eval.paraphrases": "()"}
AVM_PRESETS = (("late", "late"), ("tensor", "tensor"), ("lrt", "low_rank_tensor"),
               ("mi", "multiplicative"), ("image", "image_only"), ("audio", "audio_only"))
KEPT = "deletion_predictions_kept"  # mmjax/interpret/digits.py's deletion test


def avm_run(preset):
  return Run(f"avm_{preset}", "experiments/av_mnist.py", f"configs/av_mnist.py:{preset},manifest",
             cheap_config=f"configs/av_mnist.py:{preset},manifest,tiny", data="avm")


def avm_missing(name, **overrides):
  """Late fusion on the real pairs with learned stand-ins for a missing modality."""
  return Run(name, "experiments/av_mnist.py", "configs/av_mnist.py:late,manifest",
             overrides={"model.missing.placeholders": "True", **overrides},
             cheap_config="configs/av_mnist.py:late,manifest,tiny", data="avm")


REAL_DATA_TARGETS = (
    Row("f8k_retrieval", "Flickr8k retrieval, 1,000 test images x 5 captions, 64 px: CLIP (both "
        "towers from scratch) vs LiT (locked all-MiniLM-L6-v2 text tower)",
        "`python experiments/pretrain_finetune.py --config "
        "configs/pretrain_finetune.py:lit_manifest --config.data.source.manifest.dir=DATA/f8k "
        "--workdir runs/f8k_lit`",
        runs=(Run("f8k_lit", PRETRAIN, "configs/pretrain_finetune.py:lit_manifest",
                  cheap_config="configs/pretrain_finetune.py:lit_tiny",
                  cheap_overrides=F8K_LIT_CHEAP, data="f8k"),),
        result="CLIP image->text R@1/5/10 {s_i1}/{s_i5}/{s_i10}, text->image {s_t1}/{s_t5}/"
               "{s_t10}; LiT image->text {l_i1}/{l_i5}/{l_i10}, text->image {l_t1}/{l_t5}/"
               "{l_t10} (chance R@1 {c_i} / {c_t})",
        seeds=(0,),
        metrics=dict(
            **{f"{p}_{d}{k}": Metric("f8k_lit", f"{run}/{d}2{'t' if d == 'i' else 'i'}/R@{k}",
                                     tol=0.01 * k ** 0.5 + 0.01)
               for p, run in (("s", "scratch_text"), ("l", "lit")) for d in "it"
               for k in (1, 5, 10)},
            c_i=Metric("f8k_lit", "lit/i2t/chance_R@1"),
            c_t=Metric("f8k_lit", "lit/t2i/chance_R@1"))),
    Row("f8k_captioning", "Flickr8k captioning, ViT + Transformer decoder from scratch, 64 px, "
        "500 test images x 5 references",
        "`python experiments/captioning.py --config configs/captioning.py:manifest "
        "--config.data.source.manifest.dir=DATA/f8k --workdir runs/f8k_captioning`",
        runs=(Run("f8k_captioning", CAPTIONING, "configs/captioning.py:manifest",
                  cheap_overrides={"data.source.name": "manifest"}, data="f8k"),),
        result="greedy BLEU-1/4 = {g_b1} / {g_b4}, CIDEr-D {g_cider}; beam 3: {b_b1} / {b_b4}, "
               "CIDEr-D {b_cider} (a true caption of the wrong image: BLEU-4 {s_b4}, CIDEr-D "
               "{s_cider})",
        seeds=(0,),
        metrics=dict(
            g_b1=Metric("f8k_captioning", "greedy/BLEU-1", tol=0.03),
            g_b4=Metric("f8k_captioning", "greedy/BLEU-4", tol=0.02),
            g_cider=Metric("f8k_captioning", "greedy/CIDEr-D", tol=0.03),
            b_b1=Metric("f8k_captioning", "beam3/BLEU-1", tol=0.03),
            b_b4=Metric("f8k_captioning", "beam3/BLEU-4", tol=0.02),
            b_cider=Metric("f8k_captioning", "beam3/CIDEr-D", tol=0.03),
            s_b4=Metric("f8k_captioning", "shuffled/BLEU-4"),
            s_cider=Metric("f8k_captioning", "shuffled/CIDEr-D"))),
    Row("av_fsdd_mnist", "AV-MNIST-style real pairs: FSDD speech (test speaker unseen) + "
        "PCA-degraded MNIST digits, MultiBench recipes, 1,000 test pairs",
        "`python experiments/av_mnist.py --config configs/av_mnist.py:late,manifest "
        "--config.data.source.manifest.dir=DATA/avm --workdir runs/avm_late` (and each preset)",
        runs=tuple(avm_run(p) for _, p in AVM_PRESETS),
        result="test accuracy: late {late}, tensor {tensor}, low-rank tensor {lrt}, MI-matrix "
               "{mi}; image only {image}, audio only {audio} (chance {chance})",
        seeds=(0,),
        metrics=dict(**{k: Metric(f"avm_{p}", "accuracy", tol=0.03) for k, p in AVM_PRESETS},
                     chance=Metric("avm_late", "chance"))),
    Row("av_fsdd_mnist_missing", "AV-MNIST-style real pairs with a modality missing at test "
        "time: late fusion with learned stand-ins, trained without / with modality dropout 0.3, "
        "1,000 test pairs",
        "`python experiments/av_mnist.py --config configs/av_mnist.py:late,manifest "
        "--config.data.source.manifest.dir=DATA/avm --config.model.missing.placeholders=True "
        "--config.model.missing.modality_dropout=0.3 --workdir runs/avm_moddrop`",
        runs=(avm_missing("avm_missing"),
              avm_missing("avm_missing_dropout", **{"model.missing.modality_dropout": "0.3"})),
        result="test accuracy with both {both} / {both_d}, without the image {image} / "
               "{image_d}, without the audio {audio} / {audio_d} (chance {chance})",
        seeds=(0,),
        metrics=dict(both=Metric("avm_missing", "accuracy", tol=0.03),
                     both_d=Metric("avm_missing_dropout", "accuracy", tol=0.03),
                     image=Metric("avm_missing", "missing_image/accuracy", tol=0.03),
                     image_d=Metric("avm_missing_dropout", "missing_image/accuracy", tol=0.03),
                     audio=Metric("avm_missing", "missing_audio/accuracy", tol=0.03),
                     audio_d=Metric("avm_missing_dropout", "missing_audio/accuracy", tol=0.03),
                     chance=Metric("avm_missing", "chance"))),
    Row("interpretability_av_fsdd_mnist", "interpretability on AV-MNIST-style real pairs: "
        "late fusion (MultiBench's LeNets), its best validation epoch's parameters; Grad-CAM of "
        "the image LeNet and integrated gradients of both inputs for the predicted digit, "
        "pointing game on the digit's ink and deletion of each map's top 10 % of pixels, 200 "
        "test pairs",
        "`python -m mmjax.interpret --workdir runs/avm_late --method gradcam` (and "
        "`integrated_gradients`)",
        runs=(Run("interpret_avm", "experiments/av_mnist.py", "configs/av_mnist.py:late,manifest",
                  cheap_config="configs/av_mnist.py:late,manifest,tiny", data="avm",
                  then=(explained("gradcam"), explained("integrated_gradients"))),),
        result="hits on the ink: Grad-CAM {gradcam}, integrated gradients {ig} (a random map "
               "{random}, the centre pixel {centre}, the best fixed pixel in hindsight {fixed}, "
               "the brightest pixel 1 by definition); predictions unchanged after erasing the "
               "top 10 % of pixels by Grad-CAM {del_gc}, by integrated gradients {del_ig}, "
               "brightest first {del_bright}, in random order {del_random}; the speech's share "
               "of the attributions {audio}; test accuracy {acc} (chance {chance})",
        metrics=dict(
            gradcam=Metric("interpret_avm", "gradcam.pointing_game.hit_rate"),
            ig=Metric("interpret_avm", "integrated_gradients.pointing_game.hit_rate"),
            random=Metric("interpret_avm", "gradcam.pointing_game.random_baseline", ".2f",
                          varies=False),
            centre=Metric("interpret_avm", "gradcam.pointing_game.centre_baseline", ".2f",
                          varies=False),
            fixed=Metric("interpret_avm", "gradcam.pointing_game.best_fixed_baseline", ".2f",
                         varies=False),
            del_gc=Metric("interpret_avm", f"gradcam.{KEPT}.map.top_10_percent"),
            del_ig=Metric("interpret_avm", f"integrated_gradients.{KEPT}.map.top_10_percent"),
            del_bright=Metric("interpret_avm", f"gradcam.{KEPT}.brightest.top_10_percent"),
            del_random=Metric("interpret_avm", f"gradcam.{KEPT}.random.top_10_percent"),
            audio=Metric("interpret_avm", "integrated_gradients.integrated_gradients."
                                          "mean_share_of_magnitude.audio"),
            acc=Metric("interpret_avm", "accuracy"),
            chance=Metric("interpret_avm", "chance", ".3f", varies=False))),
)
