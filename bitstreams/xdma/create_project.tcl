# Vivado project generator: a spikeq array behind a Xilinx XDMA (PG195) in AXI4-Stream mode on the
# Xilinx KCU105 board (Kintex UltraScale XCKU040-2FFVA1156E, PCIe Gen3 x8 edge connector).
#
#   spikeq gen --config configs/default.toml --out out/default
#   vivado -mode batch -source bitstreams/xdma/create_project.tcl -tclargs out/default [PROJECT_DIR] [build]
#
# RTL_DIR is a `spikeq gen` output directory: every *.v in it is added (the synthesis harness
# spikeq_synth_*.v of `spikeq synth` is skipped) and the top is the one spikeq_top_<hash>.v. The
# array's clock comes from manifest.json (`clock_mhz`). With `build` as third argument the script
# also runs synthesis, implementation and write_bitstream.
#
# Block design:
#   PCIe refclk (100 MHz, AB6/AB5) -> util_ds_buf (IBUFDSGTE) -> xdma_0 sys_clk / sys_clk_gt
#   PERST# (K22)                   -> xdma_0 sys_rst_n
#   xdma_0 M_AXIS_H2C_0 (256 bit, axi_aclk 250 MHz) -> axis_dwidth_converter (32 B -> 4 B)
#        -> axis_clock_converter (axi_aclk -> ap_clk) -> spikeq s_axis
#   spikeq m_axis -> axis_clock_converter (ap_clk -> axi_aclk) -> axis_dwidth_converter (4 B -> 32 B)
#        -> xdma_0 S_AXIS_C2H_0
#   xdma_0 M_AXI_LITE (user BAR, BAR offset 0 = AXI address 0) -> smartconnect (axi_aclk -> ap_clk)
#        -> spikeq s_axi_control at 0x0000_0000 (the host's xdma0_user offsets are register offsets)
#   125 MHz system clock (G10/F10) -> clk_wiz -> ap_clk at clock_mhz; proc_sys_reset -> ap_rst_n
#   interrupt: not wired (the host driver polls CTRL.ap_done); usr_irq_req tied to 0.

if {[llength $argv] < 1} {
    puts "usage: vivado -mode batch -source create_project.tcl -tclargs RTL_DIR \[PROJECT_DIR\] \[build\]"
    exit 1
}
set rtl_dir [file normalize [lindex $argv 0]]
set proj_dir [file normalize [expr {[llength $argv] > 1 ? [lindex $argv 1] : "spikeq_xdma_kcu105"}]]
set build [expr {[llength $argv] > 2 && [lindex $argv 2] eq "build"}]
set here [file dirname [file normalize [info script]]]

# --- the generated RTL -------------------------------------------------------------------------
source [file join $here spikeq_rtl.tcl]
if {[catch {spikeq_rtl $rtl_dir} rtl]} {
    puts "ERROR: $rtl"
    exit 1
}
set top [dict get $rtl top]
set sources [dict get $rtl sources]
set clock_mhz [dict get $rtl clock_mhz]
puts "spikeq: top $top, [llength $sources] files, ap_clk $clock_mhz MHz"

# --- project -----------------------------------------------------------------------------------
set part xcku040-ffva1156-2-e
create_project spikeq_xdma $proj_dir -part $part -force
add_files -norecurse $sources
set_property file_type {Verilog} [get_files $sources]
add_files -fileset constrs_1 -norecurse [file join $here kcu105.xdc]
update_compile_order -fileset sources_1

create_bd_design spikeq_xdma

# external ports (names are the ones kcu105.xdc constrains)
set pcie_mgt [create_bd_intf_port -mode Master -vlnv xilinx.com:interface:pcie_7x_mgt_rtl:1.0 pcie_mgt]
set pcie_refclk [create_bd_intf_port -mode Slave -vlnv xilinx.com:interface:diff_clock_rtl:1.0 pcie_refclk]
set_property CONFIG.FREQ_HZ 100000000 $pcie_refclk
set pcie_perstn [create_bd_port -dir I -type rst pcie_perstn]
set_property CONFIG.POLARITY ACTIVE_LOW $pcie_perstn
set clk_125mhz [create_bd_intf_port -mode Slave -vlnv xilinx.com:interface:diff_clock_rtl:1.0 clk_125mhz]
set_property CONFIG.FREQ_HZ 125000000 $clk_125mhz

# XDMA: AXI4-Stream, one H2C and one C2H channel, AXI4-Lite master on the user BAR
set xdma [create_bd_cell -type ip -vlnv xilinx.com:ip:xdma:4.1 xdma_0]
set_property -dict [list \
    CONFIG.mode_selection {Advanced} \
    CONFIG.pcie_blk_locn {X0Y0} \
    CONFIG.select_quad {GTH_Quad_225} \
    CONFIG.pl_link_cap_max_link_width {X8} \
    CONFIG.pl_link_cap_max_link_speed {8.0_GT/s} \
    CONFIG.ref_clk_freq {100_MHz} \
    CONFIG.axi_data_width {256_bit} \
    CONFIG.axisten_freq {250} \
    CONFIG.xdma_axi_intf_mm {AXI_Stream} \
    CONFIG.xdma_rnum_chnl {1} \
    CONFIG.xdma_wnum_chnl {1} \
    CONFIG.axilite_master_en {true} \
    CONFIG.axilite_master_scale {Megabytes} \
    CONFIG.axilite_master_size {1} \
    CONFIG.pciebar2axibar_axil_master {0x00000000} \
    CONFIG.xdma_num_usr_irq {1} \
    CONFIG.pf0_device_id {8038} \
] $xdma

set refbuf [create_bd_cell -type ip -vlnv xilinx.com:ip:util_ds_buf:2.2 refclk_buf]
set_property CONFIG.C_BUF_TYPE {IBUFDSGTE} $refbuf
connect_bd_intf_net $pcie_refclk [get_bd_intf_pins refclk_buf/CLK_IN_D]
connect_bd_net [get_bd_pins refclk_buf/IBUF_OUT] [get_bd_pins xdma_0/sys_clk_gt]
connect_bd_net [get_bd_pins refclk_buf/IBUF_DS_ODIV2] [get_bd_pins xdma_0/sys_clk]
connect_bd_net $pcie_perstn [get_bd_pins xdma_0/sys_rst_n]
connect_bd_intf_net $pcie_mgt [get_bd_intf_pins xdma_0/pcie_mgt]
set irq0 [create_bd_cell -type ip -vlnv xilinx.com:ip:xlconstant:1.1 irq_off]
set_property -dict [list CONFIG.CONST_VAL {0} CONFIG.CONST_WIDTH {1}] $irq0
connect_bd_net [get_bd_pins irq_off/dout] [get_bd_pins xdma_0/usr_irq_req]

# the array's clock and reset
set clkwiz [create_bd_cell -type ip -vlnv xilinx.com:ip:clk_wiz:6.0 clk_wiz_0]
set_property -dict [list \
    CONFIG.PRIM_SOURCE {Differential_clock_capable_pin} \
    CONFIG.PRIM_IN_FREQ {125.000} \
    CONFIG.CLKOUT1_REQUESTED_OUT_FREQ $clock_mhz \
    CONFIG.USE_RESET {false} \
] $clkwiz
connect_bd_intf_net $clk_125mhz [get_bd_intf_pins clk_wiz_0/CLK_IN1_D]
set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset:5.0 ap_rst]
connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins ap_rst/slowest_sync_clk]
connect_bd_net [get_bd_pins clk_wiz_0/locked] [get_bd_pins ap_rst/dcm_locked]
connect_bd_net [get_bd_pins xdma_0/axi_aresetn] [get_bd_pins ap_rst/ext_reset_in]

# the spikeq top, as an RTL module reference (Vivado infers s_axi_control, s_axis, m_axis, ap_clk)
set spikeq [create_bd_cell -type module -reference $top spikeq_0]
set_property CONFIG.ASSOCIATED_BUSIF {s_axi_control:s_axis:m_axis} [get_bd_pins spikeq_0/ap_clk]
set_property CONFIG.ASSOCIATED_RESET {ap_rst_n} [get_bd_pins spikeq_0/ap_clk]
connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] [get_bd_pins spikeq_0/ap_clk]
connect_bd_net [get_bd_pins ap_rst/peripheral_aresetn] [get_bd_pins spikeq_0/ap_rst_n]

# H2C -> s_axis: downsize in the XDMA clock domain, then cross to ap_clk
set h2c_w [create_bd_cell -type ip -vlnv xilinx.com:ip:axis_dwidth_converter:1.1 h2c_width]
set_property -dict [list CONFIG.S_TDATA_NUM_BYTES {32} CONFIG.M_TDATA_NUM_BYTES {4}] $h2c_w
set h2c_c [create_bd_cell -type ip -vlnv xilinx.com:ip:axis_clock_converter:1.1 h2c_clock]
connect_bd_intf_net [get_bd_intf_pins xdma_0/M_AXIS_H2C_0] [get_bd_intf_pins h2c_width/S_AXIS]
connect_bd_intf_net [get_bd_intf_pins h2c_width/M_AXIS] [get_bd_intf_pins h2c_clock/S_AXIS]
connect_bd_intf_net [get_bd_intf_pins h2c_clock/M_AXIS] [get_bd_intf_pins spikeq_0/s_axis]

# m_axis -> C2H: cross to the XDMA clock, then upsize
set c2h_c [create_bd_cell -type ip -vlnv xilinx.com:ip:axis_clock_converter:1.1 c2h_clock]
set c2h_w [create_bd_cell -type ip -vlnv xilinx.com:ip:axis_dwidth_converter:1.1 c2h_width]
set_property -dict [list CONFIG.S_TDATA_NUM_BYTES {4} CONFIG.M_TDATA_NUM_BYTES {32}] $c2h_w
connect_bd_intf_net [get_bd_intf_pins spikeq_0/m_axis] [get_bd_intf_pins c2h_clock/S_AXIS]
connect_bd_intf_net [get_bd_intf_pins c2h_clock/M_AXIS] [get_bd_intf_pins c2h_width/S_AXIS]
connect_bd_intf_net [get_bd_intf_pins c2h_width/M_AXIS] [get_bd_intf_pins xdma_0/S_AXIS_C2H_0]

# AXI4-Lite user BAR -> s_axi_control across clocks
set sc [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 axil_sc]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1} CONFIG.NUM_CLKS {2}] $sc
connect_bd_intf_net [get_bd_intf_pins xdma_0/M_AXI_LITE] [get_bd_intf_pins axil_sc/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins axil_sc/M00_AXI] [get_bd_intf_pins spikeq_0/s_axi_control]

# clocks and resets of the glue
set xclk [get_bd_pins xdma_0/axi_aclk]
set xrst [get_bd_pins xdma_0/axi_aresetn]
set aclk [get_bd_pins clk_wiz_0/clk_out1]
set arst [get_bd_pins ap_rst/peripheral_aresetn]
connect_bd_net $xclk [get_bd_pins h2c_width/aclk] [get_bd_pins h2c_clock/s_axis_aclk] \
    [get_bd_pins c2h_clock/m_axis_aclk] [get_bd_pins c2h_width/aclk] [get_bd_pins axil_sc/aclk]
connect_bd_net $xrst [get_bd_pins h2c_width/aresetn] [get_bd_pins h2c_clock/s_axis_aresetn] \
    [get_bd_pins c2h_clock/m_axis_aresetn] [get_bd_pins c2h_width/aresetn] [get_bd_pins axil_sc/aresetn]
connect_bd_net $aclk [get_bd_pins h2c_clock/m_axis_aclk] [get_bd_pins c2h_clock/s_axis_aclk] [get_bd_pins axil_sc/aclk1]
connect_bd_net $arst [get_bd_pins h2c_clock/m_axis_aresetn] [get_bd_pins c2h_clock/s_axis_aresetn]

# the register map at AXI address 0 of the user BAR (the map spans 256 bytes; 4 KiB is the minimum range)
assign_bd_address -offset 0x00000000 -range 0x00001000 [get_bd_addr_segs spikeq_0/s_axi_control/reg0]

validate_bd_design
save_bd_design
set wrapper [make_wrapper -files [get_files spikeq_xdma.bd] -top]
add_files -norecurse $wrapper
set_property top spikeq_xdma_wrapper [current_fileset]
update_compile_order -fileset sources_1
puts "spikeq: project written to $proj_dir"

if {$build} {
    launch_runs impl_1 -to_step write_bitstream -jobs 4
    wait_on_run impl_1
    if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
        puts "ERROR: implementation did not finish; see $proj_dir/spikeq_xdma.runs/impl_1"
        exit 1
    }
    open_run impl_1
    report_utilization -file [file join $proj_dir utilization.rpt]
    report_timing_summary -file [file join $proj_dir timing_summary.rpt]
    puts "spikeq: bitstream in $proj_dir/spikeq_xdma.runs/impl_1/spikeq_xdma_wrapper.bit"
}
