//! The coverage-guided driver: `bftledger-fuzz-afl TARGET`, run by `cargo afl fuzz`
//! (see `scripts/fuzz.sh run`). `--list` prints the targets of this build; without a known
//! target it lists them on stderr and exits with 2.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    if name == "--list" {
        for t in bftledger_fuzz::targets() {
            println!("{}", t.name);
        }
        return;
    }
    let Some(target) = bftledger_fuzz::find(&name) else {
        eprintln!("usage: bftledger-fuzz-afl TARGET, one of:");
        for t in bftledger_fuzz::targets() {
            eprintln!("  {:<20} {}", t.name, t.what);
        }
        std::process::exit(2);
    };
    bftledger_fuzz::prepare();
    afl::fuzz!(|data: &[u8]| {
        bftledger_fuzz::run(target, data);
    });
}
