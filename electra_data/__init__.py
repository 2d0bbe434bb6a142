"""electra-data: corpus-to-checkpoint toolkit for ELECTRA pre-training."""

__version__ = "0.1.0"
