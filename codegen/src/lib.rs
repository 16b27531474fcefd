//! Verilog generation for spikeq arrays (filled by the generator issue).
