//! Writes the seed corpora: `bftledger-fuzz-seeds [DIR]` (default `fuzz/corpus`), one file per
//! seed at `DIR/<target>/<name>`. Existing files (crash reproducers among them) are kept.
//! `bftledger-fuzz-seeds --list` lists the targets instead.

use std::path::PathBuf;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--list") {
        for t in bftledger_fuzz::targets() {
            println!("{:<20} {}", t.name, t.what);
        }
        return;
    }
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let seeds = bftledger_fuzz::context::with(bftledger_fuzz::seeds::all);
    for s in &seeds {
        let target_dir = dir.join(s.target);
        let path = target_dir.join(&s.name);
        let written =
            std::fs::create_dir_all(&target_dir).and_then(|()| std::fs::write(&path, &s.bytes));
        if let Err(e) = written {
            eprintln!("bftledger-fuzz-seeds: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
        println!("{:>8} bytes  {}", s.bytes.len(), path.display());
    }
}
