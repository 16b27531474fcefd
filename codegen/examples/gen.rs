//! Quick manual driver: `cargo run -p spikeq-codegen --example gen -- configs/tiny.toml out/`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let d = spikeq_hdl::Derived::from_toml(&std::fs::read_to_string(&a[1]).unwrap()).unwrap();
    let mut design = spikeq_codegen::generate(&d).unwrap();
    let mut o = spikeq_codegen::testbench::TbOptions::default();
    if let Some(k) = a.get(3) { o.k_limit = k.parse().unwrap(); }
    design.add_files(spikeq_codegen::testbench::generate(&d, &o).unwrap());
    design.write_to(std::path::Path::new(&a[2]), true).unwrap();
    println!("{}", design.top);
}
