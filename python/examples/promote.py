"""Choose a model: the best validation accuracy becomes production.

    python promote.py
"""

import mreg

repo = mreg.Repo()
best = repo.best("clf", "val_acc")
promotion = repo.promote("clf", best.id, message=f"best val_acc {best.value:.3f}")
print(f"production -> {best.short_id} (was {promotion.rollback and promotion.rollback[:12]})")
