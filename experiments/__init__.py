"""The experiments: one main per experiment, each runnable as a script
(`python experiments/vqa.py --config configs/vqa.py --workdir runs/vqa`) and importable from the
repository root (`from experiments import vqa; vqa.run(config, workdir)`), as the tests do."""
