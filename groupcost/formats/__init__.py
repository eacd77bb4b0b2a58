"""Formats: one adapter module per format, each owning its library, imported lazily.

- `onnx_import`: ONNX file → Network (the only module that imports `onnx` to read);
- `torch_import`: `torch:package.module:factory` → an in-memory ONNX export → Network;
- `raise_spec`: Network → a readable spec (structure recovered, repeats folded); needs no library;
- `pytorch_export` (with `pytorch_spec`) and `onnx_export`: a spec → PyTorch source, or an ONNX file.
"""
