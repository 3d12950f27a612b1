//! The one rule levee keeps for every file it writes.
//!
//! * **No output is an input.** Files are compared by device and inode, so a hard link, a
//!   symbolic link or another spelling of an input's path is caught too; `--force` does not
//!   lift this.
//! * **Nothing existing is replaced without `--force`.**
//! * **Every output is checked, and its temporary file created, before any input is read**, so
//!   a refused output costs nothing and a long analysis is never thrown away at the end.
//! * **An output appears whole or not at all.** It is written to a temporary file in its own
//!   directory and renamed into place when complete; without `--force` the rename refuses to
//!   replace a file that appeared meanwhile.
//! * **A command removes only what it created in this run**: the temporary files, which are
//!   deleted when a run fails before renaming them.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// A file's identity on this machine: device and inode, after following links.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The identities of the input files (standard input, `-`, has none).
pub fn input_identities(inputs: &[PathBuf]) -> Vec<((u64, u64), PathBuf)> {
    inputs
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .filter_map(|p| identity(p).map(|id| (id, p.clone())))
        .collect()
}

/// An output being written: a temporary file beside its final name.
pub struct PendingFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    force: bool,
}

impl PendingFile {
    /// Checks `path` against the rule (not an input, not existing unless `force`, in a
    /// directory that exists) and creates its temporary file.
    pub fn create(path: &Path, inputs: &[PathBuf], force: bool) -> anyhow::Result<PendingFile> {
        check(path, &input_identities(inputs), force)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".levee-tmp")
            // The mode a plain create would give (the umask still applies); a temporary
            // file's default of 0600 would follow the output into place.
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        Ok(PendingFile {
            tmp,
            path: path.to_path_buf(),
            force,
        })
    }

    /// The temporary file, to write to (`&File` is a writer).
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk and renames it into place.
    pub fn commit(self) -> anyhow::Result<PathBuf> {
        let PendingFile { tmp, path, force } = self;
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
        let placed = if force {
            tmp.persist(&path).map(|_| ())
        } else {
            tmp.persist_noclobber(&path).map(|_| ())
        };
        placed.map_err(|e| {
            if !force && path.exists() {
                anyhow::anyhow!(
                    "{} appeared while levee was writing it; pass --force to replace it",
                    path.display()
                )
            } else {
                anyhow::Error::new(e.error).context(format!("cannot write {}", path.display()))
            }
        })?;
        Ok(path)
    }
}

/// Checks one output path against the inputs (by identity) and the `--force` rule.
fn check(path: &Path, inputs: &[((u64, u64), PathBuf)], force: bool) -> anyhow::Result<()> {
    if path.as_os_str().is_empty() {
        bail!("an output path is empty");
    }
    if let Some(id) = identity(path) {
        if let Some((_, input)) = inputs.iter().find(|(i, _)| *i == id) {
            bail!(
                "{} is the input {}: levee never writes over what it reads, even with --force",
                path.display(),
                input.display()
            );
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => bail!("{} is a directory, not a file", path.display()),
        Ok(_) if !force => bail!("{} exists; pass --force to replace it", path.display()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("{}", path.display()))),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!(
                "cannot write {}: {} is not a directory",
                path.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Several outputs of one command, created together (all checked before any is created, so a
/// refused one leaves nothing behind) and renamed into place together.
pub struct PendingFiles(Vec<PendingFile>);

impl PendingFiles {
    pub fn create(paths: &[PathBuf], inputs: &[PathBuf], force: bool) -> anyhow::Result<Self> {
        let ids = input_identities(inputs);
        for (i, p) in paths.iter().enumerate() {
            if paths[..i].contains(p) {
                bail!("{} is named twice as an output", p.display());
            }
            check(p, &ids, force)?;
            // Two different names for one file (a link) are caught by identity when it exists.
            if let Some(id) = identity(p) {
                if paths[..i].iter().any(|q| identity(q) == Some(id)) {
                    bail!("{} is named twice as an output", p.display());
                }
            }
        }
        let files = paths
            .iter()
            .map(|p| PendingFile::create(p, inputs, force))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(PendingFiles(files))
    }

    pub fn get(&self, i: usize) -> &PendingFile {
        &self.0[i]
    }

    /// Writes each text to its file and renames them all into place.
    pub fn write_all(self, texts: &[String]) -> anyhow::Result<Vec<PathBuf>> {
        use std::io::Write;
        for (f, text) in self.0.iter().zip(texts) {
            f.file()
                .write_all(text.as_bytes())
                .with_context(|| format!("cannot write {}", f.path().display()))?;
        }
        self.commit()
    }

    pub fn commit(self) -> anyhow::Result<Vec<PathBuf>> {
        self.0.into_iter().map(PendingFile::commit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_output_that_is_an_input_is_refused_through_links_even_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.pcap");
        std::fs::write(&input, b"capture").unwrap();
        let hard = dir.path().join("hard.pcap");
        std::fs::hard_link(&input, &hard).unwrap();
        let soft = dir.path().join("soft.pcap");
        std::os::unix::fs::symlink(&input, &soft).unwrap();
        let dotted = dir.path().join(".").join("in.pcap");
        for out in [&input, &hard, &soft, &dotted] {
            let e = PendingFile::create(out, std::slice::from_ref(&input), true)
                .err()
                .unwrap_or_else(|| panic!("{} accepted", out.display()));
            assert!(e.to_string().contains("is the input"), "{e}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"capture");
    }

    #[test]
    fn an_existing_file_needs_force_and_is_replaced_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rules.toml");
        std::fs::write(&out, b"old").unwrap();
        let e = PendingFile::create(&out, &[], false).err().unwrap();
        assert!(e.to_string().contains("--force"), "{e}");
        let f = PendingFile::create(&out, &[], true).unwrap();
        f.file().write_all(b"new").unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"old",
            "replaced before commit"
        );
        f.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temporary file was left behind");
    }

    #[test]
    fn a_file_that_appears_while_writing_is_not_replaced_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.csv");
        let f = PendingFile::create(&out, &[], false).unwrap();
        std::fs::write(&out, b"theirs").unwrap();
        let e = f.commit().err().unwrap();
        assert!(e.to_string().contains("appeared"), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), b"theirs");
    }

    #[test]
    fn an_abandoned_output_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report.html");
        {
            let f = PendingFile::create(&out, &[], false).unwrap();
            f.file().write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_set_is_refused_whole_when_one_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&b, b"keep").unwrap();
        assert!(PendingFiles::create(&[a.clone(), b.clone()], &[], false).is_err());
        assert!(!a.exists());
        assert!(PendingFiles::create(&[a.clone(), a.clone()], &[], true).is_err());
        let missing_dir = dir.path().join("nowhere/x");
        let e = PendingFiles::create(&[missing_dir], &[], true)
            .err()
            .unwrap();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }
}
