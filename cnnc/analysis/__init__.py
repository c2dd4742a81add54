"""Analyses over the graph IR: shapes, parameters, MACs, receptive fields, memory, the report."""
