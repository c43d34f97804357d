"""The neural frame generator: network, geometry, memory, training, evaluation, checkpoints."""
