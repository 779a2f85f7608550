//! `--include`/`--exclude`/`--random-access` patterns with `.gitignore` semantics (the `ignore`
//! crate's matcher), matched against paths relative to a mount source while it is walked top-down.

use crate::{Error, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The syntax of a pattern, shown in its errors.
const SYNTAX: &str =
    "patterns follow .gitignore: e.g. *.log, !keep.log, target/, /build, **/node_modules";

/// One `--include`/`--exclude`/`--random-access` pattern, a `.gitignore` line checked when it is
/// parsed: without a `/` (other than a trailing one) it matches at any depth, a leading `/` or `./`
/// anchors it at the mount source, a trailing `/` matches directories only, `!` negates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The pattern as given.
    pattern: String,
    /// The `.gitignore` line it stands for (`./x` becomes `/x`).
    line: String,
}

impl FromStr for Glob {
    type Err = Error;

    fn from_str(pat: &str) -> Result<Self> {
        let bad =
            |why: &dyn fmt::Display| Error::usage(format!("pattern {pat:?}: {why}; {SYNTAX}"));
        if pat.starts_with('#') {
            return Err(bad(
                &"a line starting with # is a comment in .gitignore (write \\# for a literal #)",
            ));
        }
        let (neg, mut body) = match pat.strip_prefix('!') {
            Some(rest) => ("!", rest),
            None => ("", pat),
        };
        let mut anchored = body.starts_with('/');
        while let Some(rest) = body.strip_prefix("./") {
            body = rest.trim_start_matches('/');
            anchored = true;
        }
        let body = body.trim_start_matches('/');
        if body.trim_end_matches('/').trim().is_empty() {
            return Err(bad(&"empty pattern"));
        }
        // .gitignore drops trailing spaces unless escaped; so do we, so that the line is the
        // matcher's.
        let body = if body.ends_with("\\ ") {
            body
        } else {
            body.trim_end_matches(' ')
        };
        let line = format!("{neg}{}{body}", if anchored { "/" } else { "" });
        GitignoreBuilder::new(".")
            .allow_unclosed_class(false)
            .add_line(None, &line)
            .map_err(|e| bad(&e))?;
        Ok(Glob {
            pattern: pat.to_string(),
            line,
        })
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// The patterns of one flag, compiled into one matcher (the last matching line wins).
#[derive(Debug, Clone)]
struct Patterns {
    /// `--include`, `--exclude` or `--random-access`.
    flag: &'static str,
    /// The patterns, in command-line order.
    globs: Vec<Glob>,
    /// Their `.gitignore` matcher.
    matcher: Gitignore,
}

impl Patterns {
    /// Compiles `globs` given to `flag`.
    fn new(flag: &'static str, globs: &[Glob]) -> Result<Self> {
        let mut b = GitignoreBuilder::new(".");
        b.allow_unclosed_class(false);
        for g in globs {
            b.add_line(None, &g.line)
                .map_err(|e| Error::usage(format!("{flag} {:?}: {e}; {SYNTAX}", g.pattern)))?;
        }
        let matcher = b
            .build()
            .map_err(|e| Error::usage(format!("{flag}: {e}; {SYNTAX}")))?;
        Ok(Patterns {
            flag,
            globs: globs.to_vec(),
            matcher,
        })
    }

    /// How `rel` matches (`Some(true)`: a pattern, `Some(false)`: a `!` pattern) and the pattern
    /// as given, noting the line in `seen`.
    fn matched(
        &self,
        rel: &[u8],
        is_dir: bool,
        seen: &mut HashSet<String>,
    ) -> Option<(bool, &str)> {
        let (hit, glob) = match self.matcher.matched(as_path(rel).as_ref(), is_dir) {
            Match::None => return None,
            Match::Ignore(g) => (true, g),
            Match::Whitelist(g) => (false, g),
        };
        if !seen.contains(glob.original()) {
            seen.insert(glob.original().to_string());
        }
        let pattern = self
            .globs
            .iter()
            .find(|g| g.line == glob.original())
            .map_or(glob.original(), |g| g.pattern.as_str());
        Some((hit, pattern))
    }

    /// A warning for each pattern no path matched.
    fn unused<'s>(&'s self, seen: &'s HashSet<String>) -> impl Iterator<Item = String> + 's {
        self.globs
            .iter()
            .filter(move |g| !seen.contains(&g.line))
            .map(|g| {
                format!(
                    "{} {:?} matched nothing in any mount; check it ({SYNTAX})",
                    self.flag, g.pattern
                )
            })
    }
}

/// A relative path of bytes as a `Path` (exact on Unix, lossy elsewhere).
fn as_path(rel: &[u8]) -> std::borrow::Cow<'_, Path> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::borrow::Cow::Borrowed(Path::new(std::ffi::OsStr::from_bytes(rel)))
    }
    #[cfg(not(unix))]
    {
        std::borrow::Cow::Owned(String::from_utf8_lossy(rel).into_owned().into())
    }
}

/// The compiled `--include`, `--exclude` and `--random-access` patterns.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    /// Files and symlinks to keep, and directories whose whole content is kept (all when empty).
    include: Patterns,
    /// Paths to leave out; a matching directory is pruned.
    exclude: Patterns,
    /// Files stored for reading at random, and directories whose files are.
    random: Patterns,
}

impl Default for Filter {
    /// Keeps everything; nothing marked as read at random.
    fn default() -> Self {
        let none = |flag| Patterns {
            flag,
            globs: Vec::new(),
            matcher: Gitignore::empty(),
        };
        Filter {
            include: none("--include"),
            exclude: none("--exclude"),
            random: none("--random-access"),
        }
    }
}

/// The patterns that matched something during a walk, by `.gitignore` line.
#[derive(Debug, Default)]
pub(super) struct Seen {
    include: HashSet<String>,
    exclude: HashSet<String>,
    random: HashSet<String>,
}

impl Filter {
    /// Compiles the patterns of each flag (a bad one is a usage error naming its flag).
    pub fn new(include: &[Glob], exclude: &[Glob], random: &[Glob]) -> Result<Filter> {
        Ok(Filter {
            include: Patterns::new("--include", include)?,
            exclude: Patterns::new("--exclude", exclude)?,
            random: Patterns::new("--random-access", random)?,
        })
    }

    /// Whether there are `--include` patterns (else everything not excluded is kept).
    pub fn includes(&self) -> bool {
        !self.include.globs.is_empty()
    }

    /// The `--exclude` pattern that leaves `rel` (relative to the mount source, its parent not
    /// excluded) out, if one does.
    pub fn excluded(&self, rel: &[u8], is_dir: bool, seen: &mut Seen) -> Option<&str> {
        match self.exclude.matched(rel, is_dir, &mut seen.exclude) {
            Some((true, pattern)) => Some(pattern),
            _ => None,
        }
    }

    /// Whether `rel` is included: matched by an `--include` pattern, or inside an included
    /// directory (`parent`) and not negated by a `!` pattern.
    pub fn included(&self, rel: &[u8], is_dir: bool, parent: bool, seen: &mut Seen) -> bool {
        if !self.includes() {
            return true;
        }
        self.include
            .matched(rel, is_dir, &mut seen.include)
            .map_or(parent, |(hit, _)| hit)
    }

    /// Whether there are `--random-access` patterns.
    pub fn marks_random(&self) -> bool {
        !self.random.globs.is_empty()
    }

    /// Whether `rel` is stored for reading at random: matched by a `--random-access` pattern, or
    /// inside a directory that is (`parent`), and not negated by a `!` pattern.
    pub fn random_access(&self, rel: &[u8], is_dir: bool, parent: bool, seen: &mut Seen) -> bool {
        self.random
            .matched(rel, is_dir, &mut seen.random)
            .map_or(parent, |(hit, _)| hit)
    }

    /// A warning for each pattern that matched nothing.
    pub fn unused(&self, seen: &Seen) -> Vec<String> {
        self.include
            .unused(&seen.include)
            .chain(self.exclude.unused(&seen.exclude))
            .chain(self.random.unused(&seen.random))
            .collect()
    }
}
