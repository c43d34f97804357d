"""The worldloop command line: thin wiring of worldgen, runtime and trt_engines."""
