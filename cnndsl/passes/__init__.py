"""The passes, in pipeline order: expand repetition, resolve arguments, infer shapes."""
