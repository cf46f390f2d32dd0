"""Fine-tuning on a group's own (caption, picture) pairs, evaluating it, and the tiny model
the tests and the playground train for themselves."""
