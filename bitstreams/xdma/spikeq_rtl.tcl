# Plain Tcl (no Vivado command): what create_project.tcl needs from a `spikeq gen` output directory.
# Kept apart so that tests run it with tclsh against freshly generated RTL.

# Returns a dict: top (module name of spikeq_top_<hash>.v), sources (every *.v except the synthesis
# harness spikeq_synth_*.v, sorted), clock_mhz (the configuration's clock, from manifest.json).
proc spikeq_rtl {rtl_dir} {
    set tops [glob -nocomplain -directory $rtl_dir spikeq_top_*.v]
    if {[llength $tops] != 1} {
        error "$rtl_dir must hold exactly one spikeq_top_<hash>.v (run: spikeq gen --config FILE --out $rtl_dir)"
    }
    set sources {}
    foreach f [lsort [glob -directory $rtl_dir *.v]] {
        if {![string match spikeq_synth_* [file tail $f]]} { lappend sources $f }
    }
    set manifest [file join $rtl_dir manifest.json]
    if {[catch {open $manifest} fh]} {
        error "$manifest is missing: $rtl_dir is not a spikeq gen output directory"
    }
    set text [read $fh]
    close $fh
    if {![regexp {"clock_mhz":\s*([0-9.]+)} $text -> clock_mhz]} {
        error "$manifest has no clock_mhz"
    }
    return [dict create top [file rootname [file tail [lindex $tops 0]]] sources $sources clock_mhz $clock_mhz]
}
