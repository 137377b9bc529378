"""Running work: background jobs, progress and cancellation, time estimates, the device."""
