"""A "serving" script: load whatever is in production and predict.

    python serve.py
"""

import numpy as np
from safetensors.numpy import load_file

import mreg

repo = mreg.Repo()
version = repo.show("clf@production")
weights = load_file(str(repo.load("clf@production")))  # cached after the first call
x = np.ones((1, 8), np.float32)
score = float((x @ weights["w"] + weights["b"])[0])
print(f"clf@production = {version.short_id} (val_acc {version.metrics['val_acc']:.3f}): score {score:.3f}")
