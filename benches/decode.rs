//! Decoder throughput: one telegram per iteration through the stream API
//! (`Decoder::push` + `next`), every object decoded to a scaled value.
//!
//! `cargo bench --bench decode`. Reads three captures of the shared corpus at run
//! time (`../shared/testdata` or `$P1IB_TESTDATA`): a Swedish 27-object ASCII
//! telegram, a Dutch DSMR 5 telegram and an Aidon list-3 HDLC frame.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use p1ib::p1::{Decoder, DecoderOptions, ProtocolHint};
use std::path::PathBuf;

fn corpus(file: &str) -> Vec<u8> {
    let dir = std::env::var_os("P1IB_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    let path = dir.join(file);
    let raw =
        std::fs::read(&path).unwrap_or_else(|e| panic!("benchmark input {}: {e}", path.display()));
    if file.ends_with(".hex") {
        p1ib::capture::parse_hex(&raw).unwrap()
    } else {
        raw
    }
}

fn bench(c: &mut Criterion, name: &str, file: &str, hint: ProtocolHint, objects: usize) {
    let bytes = corpus(file);
    let mut decoder = Decoder::new(DecoderOptions {
        protocol: hint,
        ..Default::default()
    });
    // Check once that the input decodes completely, so the benchmark measures work done.
    decoder.push(&bytes);
    let t = decoder.next().expect("a telegram").expect("decodes");
    assert!(
        t.registers.len() >= objects,
        "{name}: {} objects",
        t.registers.len()
    );
    assert!(decoder.next().is_none());

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            decoder.push(black_box(&bytes));
            let t = decoder.next().unwrap().unwrap();
            black_box(t)
        })
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    bench(
        c,
        "swedish_ascii_27_objects",
        "ascii/se_landisgyr_e360_a.txt",
        ProtocolHint::Auto,
        27,
    );
    bench(
        c,
        "dutch_dsmr5",
        "ascii/nl_dsmr50_iskra_am550.txt",
        ProtocolHint::Auto,
        30,
    );
    bench(
        c,
        "aidon_list3_hdlc",
        "hdlc/no_aidon_6534_list3_gh1119.hex",
        ProtocolHint::Auto,
        18,
    );
}

criterion_group!(benches, decode);
criterion_main!(benches);
