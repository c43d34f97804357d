"""Compiling the generator: ONNX export, TensorRT engines and their cache, ONNX Runtime sessions."""
