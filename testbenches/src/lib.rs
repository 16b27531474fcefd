//! Verilator cosimulation of generated spikeq RTL (filled by the cosimulation issue).
