//! `--include`/`--exclude` globs, compiled once and matched against paths relative to a mount source.

use crate::{Error, Result};
use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};
use std::fmt;
use std::str::FromStr;

/// One `--include`/`--exclude` pattern, checked when it is parsed. A pattern without `/` matches
/// at any depth, a trailing `/**` also matches the directory itself, a leading `/` anchors at the
/// mount source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The pattern as given.
    pattern: String,
    /// What it compiles to (one or two globset globs).
    forms: Vec<globset::Glob>,
}

impl FromStr for Glob {
    type Err = Error;

    fn from_str(pat: &str) -> Result<Self> {
        let bad = |why: &dyn std::fmt::Display| {
            Error::usage(format!(
                "glob {pat:?}: {why}; give a glob such as **/*.py or docs/**"
            ))
        };
        let trimmed = pat.trim_start_matches('/');
        if trimmed.is_empty() {
            return Err(bad(&"empty pattern"));
        }
        let mut forms = Vec::new();
        if pat.starts_with('/') || trimmed.contains('/') {
            forms.push(trimmed.to_string());
        } else {
            forms.push(format!("**/{trimmed}"));
        }
        if let Some(dir) = trimmed.strip_suffix("/**") {
            forms.push(dir.to_string());
        }
        let forms = forms
            .iter()
            .map(|form| {
                GlobBuilder::new(form)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| bad(&e))
            })
            .collect::<Result<_>>()?;
        Ok(Glob {
            pattern: pat.to_string(),
            forms,
        })
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// The set matching any of `globs` (given to `flag`).
fn glob_set(flag: &str, globs: &[Glob]) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for form in globs.iter().flat_map(|g| &g.forms) {
        set.add(form.clone());
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
    /// Gathers the patterns into sets (too large a set is a usage error naming its flag).
    pub fn new(include: &[Glob], exclude: &[Glob]) -> Result<Filter> {
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
