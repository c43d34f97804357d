"""The game: clock and loop, input, action mapping, generator backends, GL display, saves, recording."""
