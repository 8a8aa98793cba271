"""Many games on one executor: local worker processes or a Ray cluster (``hoopsense batch``)."""
