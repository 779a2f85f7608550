//! `--include`/`--exclude` globs, compiled once and matched against paths relative to a mount source.

use crate::{Error, Result};
use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// Compiles `--include`/`--exclude` globs: a pattern without `/` matches at any depth, a trailing
/// `/**` also matches the directory itself, a leading `/` anchors at the mount source.
fn glob_set(flag: &str, patterns: &[String]) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for pat in patterns {
        let trimmed = pat.trim_start_matches('/');
        let mut forms = Vec::new();
        if trimmed.is_empty() {
            return Err(Error::usage(format!(
                "{flag} {pat:?}: empty pattern; give a glob such as **/*.py or docs/**"
            )));
        }
        if pat.starts_with('/') || trimmed.contains('/') {
            forms.push(trimmed.to_string());
        } else {
            forms.push(format!("**/{trimmed}"));
        }
        if let Some(dir) = trimmed.strip_suffix("/**") {
            forms.push(dir.to_string());
        }
        for form in forms {
            let glob = GlobBuilder::new(&form)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    Error::usage(format!(
                        "{flag} {pat:?}: {e}; give a glob such as **/*.py or docs/**"
                    ))
                })?;
            set.add(glob);
        }
    }
    set.build()
        .map_err(|e| Error::usage(format!("{flag}: {e}")))
}

/// The compiled `--include` and `--exclude` globs.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    /// Files and symlinks to keep (all when `None`).
    include: Option<GlobSet>,
    /// Paths to leave out; a matching directory is pruned.
    exclude: GlobSet,
}

impl Default for Filter {
    /// Keeps everything.
    fn default() -> Self {
        Filter {
            include: None,
            exclude: GlobSet::empty(),
        }
    }
}

impl Filter {
    /// Compiles the patterns; a bad glob is a usage error naming its flag.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter> {
        let include = if include.is_empty() {
            None
        } else {
            Some(glob_set("--include", include)?)
        };
        Ok(Filter {
            include,
            exclude: glob_set("--exclude", exclude)?,
        })
    }

    /// Whether `rel` (relative to the mount source) is left out, directory or not.
    pub fn excluded(&self, rel: &[u8]) -> bool {
        self.exclude.is_match_candidate(&Candidate::from_bytes(rel))
    }

    /// Whether the file or symlink at `rel` is kept by `--include`.
    pub fn included(&self, rel: &[u8]) -> bool {
        self.include
            .as_ref()
            .is_none_or(|inc| inc.is_match_candidate(&Candidate::from_bytes(rel)))
    }
}
