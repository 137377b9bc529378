"""The audit: executors (local, Ray), many-model forget quality, relearning and sweeps."""
