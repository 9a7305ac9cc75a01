"""Working memory: named text blocks always shown to the model (see :mod:`.blocks`)."""
