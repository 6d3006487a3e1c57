//! Writes the seed corpora to `fuzz/seeds/<target>/` (replacing what is there).

#![allow(clippy::expect_used, reason = "a developer's tool: a failed write is the answer")]

fn main() {
    let root = vigie_fuzz::repo_root().join("fuzz/seeds");
    for (target, seeds) in vigie_fuzz::seeds::all() {
        let dir = root.join(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the seeds directory");
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes).expect("write a seed");
        }
        println!("{target}: {} seeds", seeds.len());
    }
}
