"""Formats: one package per library, each owning it, imported lazily.

- `onnx/`: an ONNX file → Network (reader, wire, importer, handlers, patterns, views, shapes: the
  only code that imports `onnx` to read), and a Network → an ONNX model (export);
- `torch/`: a spec → one PyTorch source file, in its structured form (blocks as classes) or its
  graph form (export, structured, graph), and `torch:package.module:factory` → an in-memory ONNX
  export → Network (reader).

Raising a Network back to a readable spec needs no library: it lives beside the language
(groupcost.language.raising).
"""
