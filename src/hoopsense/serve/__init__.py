"""The analysis service (``hoopsense serve``): an HTTP API over a SQLite job store, running jobs on the batch executors."""
