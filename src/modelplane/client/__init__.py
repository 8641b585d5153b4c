"""Inference clients built on `protocol/`: how one modelplane process calls another's model."""
