# Constraints of the spikeq XDMA design on the Xilinx KCU105 board (UG917), part
# xcku040-ffva1156-2-e. Port names are the block design's external ports (create_project.tcl).

# Configuration: 1.8 V configuration bank, quad-SPI x8 flash on the board
set_property CFGBVS GND                                [current_design]
set_property CONFIG_VOLTAGE 1.8                        [current_design]
set_property BITSTREAM.GENERAL.COMPRESS true           [current_design]
set_property BITSTREAM.CONFIG.SPI_BUSWIDTH 8           [current_design]
set_property BITSTREAM.CONFIG.EXTMASTERCCLK_EN {DIV-1} [current_design]
set_property BITSTREAM.CONFIG.SPI_32BIT_ADDR YES       [current_design]

# PCIe edge connector, Gen3 x8. Reference clock: 100 MHz from the host slot to MGTREFCLK0 of
# GTH quad 225 (package pins AB6/AB5). Lanes 0-3 on quad 225 (GTHE3_CHANNEL_X0Y7..X0Y4, RX pins
# AB2, AD2, AF2, AH2), lanes 4-7 on quad 224 (X0Y3..X0Y0, RX pins AJ4, AK2, AM2, AP2); the XDMA
# core places its GT channels itself from pcie_blk_locn X0Y0 / select_quad GTH_Quad_225.
set_property PACKAGE_PIN AB6 [get_ports {pcie_refclk_clk_p*}]
set_property PACKAGE_PIN AB5 [get_ports {pcie_refclk_clk_n*}]
create_clock -period 10.000 -name pcie_refclk [get_ports {pcie_refclk_clk_p*}]

# PERST# from the slot (bank 65, 1.8 V), active low, pulled up on the FPGA side
set_property -dict {PACKAGE_PIN K22 IOSTANDARD LVCMOS18 PULLUP true} [get_ports pcie_perstn]
set_false_path -from [get_ports pcie_perstn]

# 125 MHz LVDS system clock from the Si5335 (U122): the array's ap_clk comes from it via clk_wiz
set_property -dict {PACKAGE_PIN G10 IOSTANDARD LVDS} [get_ports {clk_125mhz_clk_p*}]
set_property -dict {PACKAGE_PIN F10 IOSTANDARD LVDS} [get_ports {clk_125mhz_clk_n*}]
create_clock -period 8.000 -name clk_125mhz [get_ports {clk_125mhz_clk_p*}]
