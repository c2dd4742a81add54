"""Training: initialisation, losses, optimizers, schedules, checkpoints and the trainer loop."""
