"""Which weights, how they load, where and at which precision they run: open_clip models,
model folders, the hub check, the device, and each model's calibrated thresholds."""
