"""Stage 2, annotation: where training pairs come from (human labels, Inverse Cloze Task, generated queries)."""
