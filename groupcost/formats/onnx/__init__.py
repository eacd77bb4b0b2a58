"""ONNX in and out.

Reading: `reader` (the file) → `wire` (weights left out before parsing) → `importer` (the engine,
building through groupcost.graph.builder) → `handlers` (one per operator, with `shapes`, `views`
and `patterns`), over `values` (what flows along the graph) and `names` (module paths).
Writing: `export`.
"""
