//! `bourse`: placeholder until the CLI lands.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
