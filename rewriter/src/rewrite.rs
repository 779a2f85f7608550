//! The library's entry point: the [`Rewriter`] builder, which checks each stage's options once and
//! runs the pipeline (read → image → merge → write).

use crate::mount::{self, DryRun, ImageOptions, MountSpec, Mtimes, Progress, WalkOptions};
use crate::output::{Output, Target};
use crate::plan::Served;
use crate::policy::{policy_calls, HostFs, HostPolicy, MemoryLayout, MemorySize};
use crate::report::{report, Report, Rewritten};
use crate::{input, merge, output, stream, Error, Glob, HostPreopen, Input, Result, Timestamp};
use crate::{Clock, Deny, EnvFromHost, Policies, Random, Stdio, Trace};
use std::borrow::Cow;
use std::path::Path;
use wasifs_image::{BlockSize, CacheSize, ChunkSize, Dictionaries, Level};

/// The name errors give a module passed as bytes to [`Rewriter::rewrite`].
const BYTES_NAME: &str = "<input module>";

/// Rewrites wasm32-wasip1 core modules so that they carry their files: set the mounts and
/// options, then call [`rewrite`](Rewriter::rewrite), [`rewrite_file`](Rewriter::rewrite_file)
/// or [`write_file`](Rewriter::write_file).
///
/// ```
/// use wasifs::{Level, MountSpec, Random, Rewriter};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let app = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/bin/wat_cat.wasm"));
/// let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tree");
/// let packed = Rewriter::new()
///     .mount(MountSpec::new("/", tree)?.read_only())
///     .mount("/etc/app.toml=Cargo.toml:ro".parse()?)
///     .exclude("*.tmp".parse()?)
///     .level(Level::DEFAULT)
///     .env("APP_MODE", "test")
///     .arg("--verbose")
///     .clock("fixed:2024-01-02T03:04:05Z".parse()?)
///     .random(Random::Seed(42))
///     .rewrite(app)?;
/// assert!(packed.bytes.starts_with(b"\0asm"));
/// assert!(packed.report.files > 0);
/// assert_eq!(packed.report.output_len, packed.bytes.len() as u64);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    /// The mounts, in preopen order.
    mounts: Vec<MountSpec>,
    /// `--include` globs.
    include: Vec<Glob>,
    /// `--exclude` globs.
    exclude: Vec<Glob>,
    /// `--random-access` globs.
    random_access: Vec<Glob>,
    /// `--follow-symlinks`.
    follow_symlinks: bool,
    /// Level, threads and progress of the image build.
    image: ImageOptions,
    /// `--host-fs`.
    host_fs: HostFs,
    /// `--preopen`, checked by [`HostPolicy::new`].
    preopens: Vec<HostPreopen>,
    /// `--mtime`: one modification time for every node.
    mtime: Option<Timestamp>,
    /// The latest modification time recorded.
    clamp: Clamp,
    /// `--env`, `--arg`, `--stdin`… (the WASI policies), checked by [`HostPolicy::new`].
    policies: Policies,
    /// `--max-write-memory`.
    max_write_memory: Option<MemorySize>,
    /// `--memory`: where the shim's state lives.
    memory: MemoryLayout,
}

/// The latest modification time a rewrite records.
#[derive(Debug, Clone, Copy, Default)]
enum Clamp {
    /// `SOURCE_DATE_EPOCH`, if set when the rewrite runs.
    #[default]
    FromEnv,
    /// This time, whatever the environment says.
    At(Timestamp),
    /// None.
    Off,
}

/// The environment variable of reproducible builds: the latest time a build may record.
const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

impl Rewriter {
    /// No mounts, no globs, symlinks kept as links, [`Level::DEFAULT`], all cores, host preopens
    /// allowed, host mtimes clamped to `SOURCE_DATE_EPOCH` when it is set.
    pub fn new() -> Self {
        Rewriter::default()
    }

    /// Embeds a host directory or file at a guest path; mounts are preopened in the order added.
    pub fn mount(mut self, mount: MountSpec) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Embeds only what matches `glob`, a `.gitignore` line relative to the mount source (a
    /// matching directory comes with everything below it); repeatable, the last matching line wins.
    pub fn include(mut self, glob: Glob) -> Self {
        self.include.push(glob);
        self
    }

    /// Leaves out what matches `glob`, a `.gitignore` line (a matching directory is pruned);
    /// repeatable, the last matching line wins; wins over [`include`](Self::include).
    pub fn exclude(mut self, glob: Glob) -> Self {
        self.exclude.push(glob);
        self
    }

    /// Stores the files `glob` matches (a `.gitignore` line; a matching directory: every file
    /// below it) for reading at random — databases, indexes, archives read a page at a time: 4 KiB
    /// chunks whatever their size, so a read decodes a few KiB instead of up to 256 KiB, for a
    /// larger image when they compress well. Repeatable, the last matching line wins. Files
    /// larger than the cache (text excepted) and SQLite and redb databases get this without a
    /// pattern.
    pub fn random_access(mut self, glob: Glob) -> Self {
        self.random_access.push(glob);
        self
    }

    /// Copies what symlinks point to instead of keeping them as symlinks.
    pub fn follow_symlinks(mut self, follow: bool) -> Self {
        self.follow_symlinks = follow;
        self
    }

    /// The zstd level of the file data ([`Level::STORE`] keeps it uncompressed).
    pub fn level(mut self, level: Level) -> Self {
        self.image.level = level;
        self
    }

    /// Memory the program may use to keep decompressed chunks for random reads
    /// ([`CacheSize::DEFAULT`] unless set); a file's chunks are freed when its last fd closes.
    pub fn cache_size(mut self, size: CacheSize) -> Self {
        self.image.cache_size = size;
        self
    }

    /// The uncompressed chunk size of the file data: [`ChunkSize::AUTO`] (the default) gives
    /// files larger than the cache 4 KiB chunks (fast random reads) unless they are text (read
    /// through: 1 MiB), and the others 256 KiB; by their first bytes, SQLite and redb databases
    /// get 4 KiB chunks whatever their size, and executables, object files, static libraries and
    /// wasm modules (read whole) 1 MiB.
    pub fn chunk_size(mut self, size: ChunkSize) -> Self {
        self.image.chunk_size = size;
        self
    }

    /// Most uncompressed bytes in one shared block of small files ([`BlockSize::DEFAULT`], 128
    /// KiB, unless set): larger blocks compress files that share content better, and a read of one
    /// small file decompresses up to a block; [`BlockSize::OFF`] compresses every file alone.
    pub fn block_size(mut self, size: BlockSize) -> Self {
        self.image.block_size = size;
        self
    }

    /// Whether the image may carry dictionaries ([`Dictionaries::Auto`] unless set): one for
    /// chunks read at random and one for shared blocks of small files, each only where it pays;
    /// the shim decodes one before the first chunk or block that needs it and keeps it.
    pub fn dictionaries(mut self, dictionaries: Dictionaries) -> Self {
        self.image.dictionaries = dictionaries;
        self
    }

    /// Compression threads; 0 (the default) uses one per available core, and 1 also lists the
    /// mounted directories on this thread alone. The output is the same bytes either way.
    pub fn threads(mut self, threads: usize) -> Self {
        self.image.threads = threads;
        self
    }

    /// Calls `progress(done, total)` (uncompressed bytes) as the image is built.
    pub fn progress(mut self, progress: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.image.progress = Some(Progress(std::sync::Arc::new(progress)));
        self
    }

    /// Whether the runtime's own preopens stay visible after the embedded ones.
    pub fn host_fs(mut self, host_fs: HostFs) -> Self {
        self.host_fs = host_fs;
        self
    }

    /// Shows the runtime's preopen `preopen.host` to the app as `preopen.guest`; repeatable.
    pub fn preopen(mut self, preopen: HostPreopen) -> Self {
        self.preopens.push(preopen);
        self
    }

    /// Records `mtime` as the modification (and access and change) time of every file, directory
    /// and symlink; wins over [`clamp_mtime`](Self::clamp_mtime) and `SOURCE_DATE_EPOCH`.
    pub fn mtime(mut self, mtime: Timestamp) -> Self {
        self.mtime = Some(mtime);
        self
    }

    /// Records no modification time later than `latest` (`None`: the host's times as they are).
    /// Without this call, `SOURCE_DATE_EPOCH` (unix seconds), when set in the environment at
    /// rewrite time, is the latest time, as reproducible-builds tools do; a malformed value is an
    /// error.
    pub fn clamp_mtime(mut self, latest: Option<Timestamp>) -> Self {
        self.clamp = latest.map_or(Clamp::Off, Clamp::At);
        self
    }

    /// Which modification times the image records, reading `SOURCE_DATE_EPOCH` if it decides.
    fn mtimes(&self) -> Result<Mtimes> {
        if let Some(t) = self.mtime {
            return Ok(Mtimes::Fixed(t.unix_nanos()));
        }
        let latest = match self.clamp {
            Clamp::Off => None,
            Clamp::At(t) => Some(t),
            Clamp::FromEnv => match std::env::var_os(SOURCE_DATE_EPOCH) {
                None => None,
                Some(v) if v.is_empty() => None,
                Some(v) => {
                    let secs = v
                        .to_str()
                        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| {
                            Error::usage(format!(
                                "{SOURCE_DATE_EPOCH}={v:?} is not a number of seconds since 1970; \
                                 set it to e.g. $(git log -1 --format=%ct), or unset it"
                            ))
                        })?;
                    Some(Timestamp::from_unix_secs(secs))
                }
            },
        };
        Ok(latest.map_or(Mtimes::Host, |t| Mtimes::Clamp(t.unix_nanos())))
    }

    /// Gives the app the environment variable `name=value`, before (and over) the host's; repeatable.
    /// The name must be non-empty without `=`, and neither may hold a NUL byte (else `rewrite`
    /// fails with a usage error).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.policies.env.push((name.into(), value.into()));
        self
    }

    /// Which of the runtime's environment variables the app sees (all by default).
    pub fn env_from_host(mut self, from_host: EnvFromHost) -> Self {
        self.policies.env_from_host = from_host;
        self
    }

    /// Bakes one argument: the app sees the runtime's `argv[0]`, the baked arguments in order, then
    /// the runtime's other arguments; repeatable.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.policies.args.push(arg.into());
        self
    }

    /// Bakes several arguments, as [`arg`](Self::arg) each in order.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.policies.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// What the app's stdin is ([`Stdio::Inherit`] by default).
    pub fn stdin(mut self, stdio: Stdio) -> Self {
        self.policies.stdio[0] = stdio;
        self
    }

    /// What the app's stdout is ([`Stdio::Inherit`] by default).
    pub fn stdout(mut self, stdio: Stdio) -> Self {
        self.policies.stdio[1] = stdio;
        self
    }

    /// What the app's stderr is ([`Stdio::Inherit`] by default).
    pub fn stderr(mut self, stdio: Stdio) -> Self {
        self.policies.stdio[2] = stdio;
        self
    }

    /// The clocks the app reads ([`Clock::Host`] by default).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.policies.clock = clock;
        self
    }

    /// The bytes `random_get` gives ([`Random::Host`] by default).
    pub fn random(mut self, random: Random) -> Self {
        self.policies.random = random;
        self
    }

    /// What a call a policy denies does: answer `ENOTCAPABLE` (the default) or trap.
    pub fn deny(mut self, deny: Deny) -> Self {
        self.policies.deny = deny;
        self
    }

    /// Logs every WASI call the app makes to stderr, one strace-like line each: always
    /// ([`Trace::On`]) or when the runtime's environment sets `WASIFS_TRACE` ([`Trace::Env`]).
    pub fn trace(mut self, trace: Trace) -> Self {
        self.policies.trace = trace;
        self
    }

    /// The WASI policies set so far (what the image will record).
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Caps the memory the module's writes may take at run time (the shim's in-memory layer);
    /// past it, writes answer ENOMEM and the program goes on. Without it, the 4 GiB address space.
    pub fn max_write_memory(mut self, size: MemorySize) -> Self {
        self.max_write_memory = Some(size);
        self
    }

    /// Where the shim's state lives (`--memory`; default: its own memory).
    pub fn memory_layout(mut self, memory: MemoryLayout) -> Self {
        self.memory = memory;
        self
    }

    /// Rewrites the core module `bytes`.
    pub fn rewrite(&self, bytes: &[u8]) -> Result<Rewritten> {
        let path = Path::new(BYTES_NAME);
        input::check_core_module(path, bytes)?;
        self.rewrite_bytes(path, bytes)
    }

    /// Reads the core module at `path` and rewrites it; errors name `path`. The module itself is
    /// never embedded (a mount holding it leaves it out, with a warning).
    pub fn rewrite_file(&self, path: impl AsRef<Path>) -> Result<Rewritten> {
        let path = path.as_ref();
        let app = input::read_module(path)?;
        let mut bytes = Vec::new();
        let dest = Dest::Parts(Box::new(|parts| {
            bytes = parts.concat();
            Ok(())
        }));
        let report = self.run(path, &app, &[(path, "input module")], dest)?;
        Ok(Rewritten { bytes, report })
    }

    /// Rewrites the core module at `input` into the file `output`, as [`write`](Self::write) does.
    pub fn write_file(&self, input: impl AsRef<Path>, output: impl AsRef<Path>) -> Result<Report> {
        self.write(
            &Input::File(input.as_ref().to_path_buf()),
            &Output::File(output.as_ref().to_path_buf()),
        )
    }

    /// Rewrites the module read from `input` into `output`. The output is checked before anything
    /// is read (a directory, a trailing `/`, a missing directory, a terminal are refused), streamed
    /// (never held in memory as a whole), and on error nothing is written to a file. A file output
    /// is replaced atomically and gets the input's permission bits; a symlink's target is replaced,
    /// the link kept; a device or FIFO is written through. Neither the input nor the output file is
    /// ever embedded (a mount holding them leaves them out, with a warning).
    pub fn write(&self, input: &Input, output: &Output) -> Result<Report> {
        let target = Target::check(output)?;
        let (name, app) = input::read(input)?;
        let in_path = match input {
            Input::File(p) => Some(p.as_path()),
            Input::Stdin => None,
        };
        let mode = output::mode_for(in_path, &target);
        let mut skip: Vec<(&Path, &str)> = Vec::new();
        skip.extend(in_path.map(|p| (p, "input module")));
        skip.extend(target.replaced().map(|p| (p, "output")));
        let dest = match &target {
            Target::Replace(path) => Dest::File { path, mode },
            _ => Dest::Parts(Box::new(|parts| {
                target.write(parts.iter().map(|p| &p[..]), mode)
            })),
        };
        self.run(&name, &app, &skip, dest)
    }

    /// Lists what [`write`](Self::write) would embed, and what it would leave out and why, without
    /// compressing or writing anything. `input` is read and its header checked; `output` is checked
    /// as `write` checks it (a directory, a missing directory… are errors) unless it is stdout.
    pub fn dry_run(&self, input: &Input, output: &Output) -> Result<DryRun> {
        let target = match output {
            Output::File(_) => Some(Target::check(output)?),
            Output::Stdout => None,
        };
        let _ = input::read(input)?;
        let mut walk = self.walk_options()?;
        if let Input::File(p) = input {
            walk.skip(p, "input module");
        }
        if let Some(p) = target.as_ref().and_then(Target::replaced) {
            walk.skip(p, "output");
        }
        let host = self.host_policy()?;
        mount::plan_image(&self.mounts, &walk, &host)
    }

    /// The host policy, checked.
    fn host_policy(&self) -> Result<HostPolicy> {
        Ok(
            HostPolicy::new(self.host_fs, self.preopens.clone(), self.policies.clone())?
                .max_write_memory(self.max_write_memory),
        )
    }

    /// The walk's options, checked.
    fn walk_options(&self) -> Result<WalkOptions> {
        WalkOptions::new(
            &self.include,
            &self.exclude,
            &self.random_access,
            self.follow_symlinks,
            self.mtimes()?,
        )
    }

    /// Rewrites `app` (read from `path`) into a byte vector.
    fn rewrite_bytes(&self, path: &Path, app: &[u8]) -> Result<Rewritten> {
        let mut bytes = Vec::new();
        let dest = Dest::Parts(Box::new(|parts| {
            bytes = parts.concat();
            Ok(())
        }));
        let report = self.run(path, app, &[], dest)?;
        Ok(Rewritten { bytes, report })
    }

    /// Runs the pipeline on `app` (read from `path`) into `dest`; the host files `skip` (with what
    /// they are) are never embedded.
    fn run(
        &self,
        path: &Path,
        app: &[u8],
        skip: &[(&Path, &str)],
        dest: Dest<'_>,
    ) -> Result<Report> {
        let mut walk = self.walk_options()?;
        for (file, what) in skip {
            walk.skip(file, what);
        }
        let host = self.host_policy()?;
        let walk_tree = || mount::walk_image(&self.mounts, &walk, &self.image, &host);
        let single = match self.memory {
            MemoryLayout::Multi => false,
            MemoryLayout::Single => {
                merge::single_memory::refuse_unsafe_runtime(path, app)?;
                true
            }
            MemoryLayout::Auto => merge::single_memory::suits(app),
        };
        let calls = policy_calls(&self.policies);
        let served = Served {
            policy_calls: &calls,
            trace: self.policies.trace != Trace::Off,
        };
        // The single-memory layout is folded from the module merged with an empty image; the
        // image then fills the folded module's image segment, as in a re-rewrite (`reimage`), so
        // it is never re-encoded and can be streamed like any other.
        let folded;
        // The merge the layout was folded from: its warnings and redirected calls, and the fold's
        // warning.
        let mut folded_from = None;
        let input = if single {
            let merged = merge::rewrite_module(path, app, &[], &served)?;
            if !merged.image_replaced {
                let parts = merged.module.parts().map_err(|e| e.into_error(path))?;
                let (bytes, warning) = merge::single_memory::fold(path, app, &parts.concat())?;
                folded = bytes;
                folded_from = Some((merged.warnings, merged.redirected, warning));
                &folded[..]
            } else if merge::single_memory::is_single(app) {
                // Packed with this layout already: only its image is replaced.
                app
            } else {
                return Err(crate::Error::unsupported(
                    path,
                    "was packed with the multi-memory layout: the single-memory layout is made from the original",
                    "rewrite the original module with --memory=single",
                ));
            }
        } else {
            app
        };
        // What the report says of the merge: the fold's, when the image only filled its segment.
        let report_of =
            |output_len: u64, image: &mount::BuiltImage, merged: &merge::MergeOutput| {
                let mut r = report(app, output_len, image, merged);
                if let Some((warnings, redirected, fold_warning)) = &folded_from {
                    r.warnings.extend(warnings.iter().cloned());
                    r.warnings.extend(fold_warning.iter().cloned());
                    r.redirected.clone_from(redirected);
                    r.image_replaced = false;
                }
                r
            };
        match dest {
            Dest::File { path: out, mode } => std::thread::scope(|s| {
                // Merged with an empty image on a thread of its own while the tree is walked and
                // the image begun: the file is written around the image while the image is built
                // (see `stream`).
                let (folded, served) = (folded_from.is_some(), &served);
                let merging = s.spawn(move || merge_into(path, input, &[], served, folded));
                let walked = walk_tree()?;
                let (image, merged, output_len) =
                    stream::write_with_image(path, out, mode, merging, |sink| {
                        walked.build(&self.image, sink)
                    })?;
                Ok(report_of(output_len + image.len, &image, &merged))
            }),
            Dest::Parts(sink) => {
                let image = walk_tree()?.build_in_memory(&self.image)?;
                let merged = merge_into(path, input, &image.bytes, &served, folded_from.is_some())?;
                // A list of parts borrowing `input` and `image.bytes`: the image is never held
                // twice.
                let parts = merged.module.parts().map_err(|e| e.into_error(path))?;
                let output_len = parts.iter().map(|p| p.len() as u64).sum();
                sink(&parts)?;
                drop(parts);
                Ok(report_of(output_len, &image, &merged))
            }
        }
    }
}

/// `input` merged with `image` as `served` says, or (`folded`: `input` is the single-memory layout
/// just folded from such a merge) its image segment filled with `image`.
fn merge_into<'a>(
    path: &Path,
    input: &'a [u8],
    image: &'a [u8],
    served: &Served<'_>,
    folded: bool,
) -> Result<merge::MergeOutput<'a>> {
    if folded {
        merge::fill_image(path, input, image, served.trace)
    } else {
        merge::rewrite_module(path, input, image, served)
    }
}

/// A function given the module as slices in order.
type PartsSink<'s> = dyn for<'p> FnOnce(&[Cow<'p, [u8]>]) -> Result<()> + 's;

/// Where [`Rewriter::run`] puts the module.
enum Dest<'s> {
    /// Handed, as slices in order, to a function (the image built in memory first).
    Parts(Box<PartsSink<'s>>),
    /// A regular file replaced atomically (permission bits `mode`), written while the image is
    /// built.
    File { path: &'s Path, mode: Option<u32> },
}
