"""Fine-tuning evaluation of pre-trained checkpoints (``electra-eval``)."""
