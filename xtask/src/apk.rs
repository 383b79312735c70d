//! `cargo xtask apk`: builds, signs and verifies the Android authenticator
//! from Debian packages only, without Gradle (aapt2, javac against the API 23
//! `android.jar`, dx, zip, zipalign, apksigner; the recipe, and why each
//! tool comes from where it does, is in `authenticator/docs/build.md`).
//!
//! - bookworm tools (aapt2, zipalign, apksigner, dexdump, ZXing, JUnit) are
//!   installed normally through [`deps::ensure`];
//! - the dexer (dx, bullseye), the API 23 `android.jar` (bullseye) and the
//!   API 33 `framework-res.apk` (trixie) come from three .deb files pinned by
//!   sha256, fetched once through a private apt configuration and cached under
//!   `target/authenticator/debs/` (nothing is installed from those suites);
//! - the APK is signed with the release key named by the `TWOFA_APK_KEYSTORE`
//!   variables, or else with the debug key where the Android tools keep theirs
//!   (`~/.android/debug.keystore`, created once): never under `target/`, so
//!   `cargo clean` cannot change the signature (an app signed with another key
//!   cannot be updated, only uninstalled, which wipes its Keystore key and
//!   every account).
//!
//! The unsigned, aligned APK is reproducible: `--check-reproducible` builds
//! it a second time in another folder and compares the bytes.

use crate::deps;
use crate::util::{self, step};
use anyhow::{bail, ensure, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    /// Build a second time in another folder and fail unless the unsigned APKs are identical.
    #[arg(long)]
    check_reproducible: bool,
    /// Also compile and run the JUnit tests of the pure-Java core.
    #[arg(long)]
    test: bool,
    /// Everything CI runs: build, verify, reproducibility and JUnit tests.
    #[arg(long)]
    ci: bool,
    /// Only compile the pure-Java core (with its CodeTool) and print the classes folder.
    #[arg(long)]
    core_classes: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.core_classes {
        println!("{}", core_classes()?.display());
        return Ok(());
    }
    if args.ci {
        return ci();
    }
    let sdk = Sdk::prepare()?;
    let apk = build_and_sign(&sdk)?;
    if args.check_reproducible {
        check_reproducible(&sdk)?;
    }
    if args.test {
        junit()?;
    }
    eprintln!("\nAPK ready: {}", apk.display());
    eprintln!("install it on a phone with: adb install {}", apk.display());
    Ok(())
}

/// What `cargo xtask test` runs: build + sign + verify, reproducibility, JUnit.
pub fn ci() -> Result<()> {
    let sdk = Sdk::prepare()?;
    build_and_sign(&sdk)?;
    check_reproducible(&sdk)?;
    junit()?;
    Ok(())
}

/// Compiles the pure-Java core (`otp`, `vault`, with the `CodeTool` command
/// line) for the host JVM and returns the classes folder, for tests that
/// need the app's own code computation (e.g. the service cross-check).
pub fn core_classes() -> Result<PathBuf> {
    ensure_bookworm_tools()?;
    let out = out_dir().join("core-classes");
    let mut dirs = core_sources_dirs();
    dirs.push(tools_dir());
    let sources = java_files(&dirs)?;
    let _t = step("compiling the authenticator's pure-Java core");
    recreate(&out)?;
    util::run(
        Command::new("javac")
            .args([
                "--release",
                "8",
                "-encoding",
                "UTF-8",
                "-Xlint:all",
                "-Werror",
            ])
            .arg("-d")
            .arg(&out)
            .args(&sources),
    )?;
    Ok(out)
}

// ---------------------------------------------------------------- paths

fn app_dir() -> PathBuf {
    util::root().join("authenticator")
}

fn out_dir() -> PathBuf {
    util::target_dir().join("authenticator")
}

/// Where the final, signed APK lands.
pub fn apk_path() -> PathBuf {
    out_dir().join("twofa-authenticator.apk")
}

/// The packages of the pure-Java core: no `android.*` imports allowed there.
fn core_sources_dirs() -> Vec<PathBuf> {
    let src = app_dir().join("src/org/twofa/authenticator");
    vec![
        src.join("otp"),
        src.join("vault"),
        src.join("transfer"),
        src.join("compat"),
    ]
}

/// Command-line tools over the core (`CodeTool`): compiled for the JVM and
/// the tests, never shipped in the APK.
fn tools_dir() -> PathBuf {
    app_dir().join("tools")
}

const ZXING_JAR: &str = "/usr/share/java/core.jar";
const JUNIT_JAR: &str = "/usr/share/java/junit4.jar";
/// The Android tools' conventions for the debug key (alias and passwords).
const DEBUG_KEY_ALIAS: &str = "androiddebugkey";
const DEBUG_KEY_PASS: &str = "android";
/// Release signing: keystore path, its password, the key alias and (optional,
/// defaults to the keystore password) the key password.
const ENV_KEYSTORE: &str = "TWOFA_APK_KEYSTORE";
const ENV_KEYSTORE_PASS: &str = "TWOFA_APK_KEYSTORE_PASS";
const ENV_KEY_ALIAS: &str = "TWOFA_APK_KEY_ALIAS";
const ENV_KEY_PASS: &str = "TWOFA_APK_KEY_PASS";

fn ensure_bookworm_tools() -> Result<()> {
    deps::ensure(
        "building the Android authenticator",
        &[
            deps::pkg("openjdk-17-jdk-headless", "/usr/bin/javac"),
            deps::pkg("aapt", "/usr/bin/aapt2"),
            deps::pkg("zipalign", "/usr/bin/zipalign"),
            deps::pkg("apksigner", "/usr/bin/apksigner"),
            deps::pkg("dexdump", "/usr/bin/dexdump"),
            deps::pkg("zip", "/usr/bin/zip"),
            deps::pkg("unzip", "/usr/bin/unzip"),
            deps::pkg("libzxing-core-java", ZXING_JAR),
            deps::pkg("junit4", JUNIT_JAR),
        ],
    )
}

// ---------------------------------------------------------------- SDK

/// A .deb from a suite other than bookworm, pinned by version and sha256.
struct PinnedDeb {
    spec: &'static str,
    file: &'static str,
    sha256: &'static str,
}

const PINNED: [PinnedDeb; 3] = [
    PinnedDeb {
        spec: "dalvik-exchange=10.0.0+r36-1",
        file: "dalvik-exchange_10.0.0+r36-1_all.deb",
        sha256: "8fc128db7c27253d963eb9b33de79b197162a4749d2ba69019b2fd0664cbd7fe",
    },
    PinnedDeb {
        spec: "libandroid-23-java=6.0.1+r72-6",
        file: "libandroid-23-java_6.0.1+r72-6_all.deb",
        sha256: "8af1b6df556971dda0a6da3536ea526a838e0c363afcdd454213d8bce94793e3",
    },
    PinnedDeb {
        spec: "android-framework-res=1:14~beta1-3",
        file: "android-framework-res_1%3a14~beta1-3_all.deb",
        sha256: "2813eeaa722b1fc67d66701ddb6111d4b74f84df20974c220da04b0ef5f4c1c8",
    },
];

struct Sdk {
    /// Classes of API 23: the only android.jar with classes in Debian.
    android_jar: PathBuf,
    /// dx 1.16 (bullseye's dalvik-exchange).
    dx_jar: PathBuf,
    /// Resources of API 33 (trixie), to link against.
    framework_res: PathBuf,
}

impl Sdk {
    fn prepare() -> Result<Sdk> {
        ensure_bookworm_tools()?;
        let debs = out_dir().join("debs");
        let sdk = out_dir().join("sdk");
        fs::create_dir_all(&debs)?;
        let missing = PINNED
            .iter()
            .filter(|d| !sha256_matches(&debs.join(d.file), d.sha256))
            .count();
        if missing > 0 {
            download_pinned(&debs)?;
        }
        for d in &PINNED {
            let path = debs.join(d.file);
            ensure!(
                sha256_matches(&path, d.sha256),
                "{} does not have the pinned sha256 {}; delete it and run again \
                 (if the mirror changed the file, the pin in xtask/src/apk.rs must be reviewed)",
                path.display(),
                d.sha256
            );
        }
        let stamp = sdk.join(".extracted-from");
        let wanted: String = PINNED.iter().map(|d| format!("{}\n", d.sha256)).collect();
        if fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
            let _t = step("extracting dx, android.jar (API 23) and framework-res.apk (API 33)");
            recreate(&sdk)?;
            for d in &PINNED {
                util::run(
                    Command::new("dpkg")
                        .arg("-x")
                        .arg(debs.join(d.file))
                        .arg(&sdk),
                )?;
            }
            fs::write(&stamp, wanted)?;
        }
        let found = Sdk {
            android_jar: sdk.join("usr/share/java/com.android.android-23.jar"),
            dx_jar: sdk.join("usr/share/java/com.android.dx-10.0.0.jar"),
            framework_res: sdk.join("usr/share/android-framework-res/framework-res.apk"),
        };
        for p in [&found.android_jar, &found.dx_jar, &found.framework_res] {
            ensure!(
                p.exists(),
                "{} is missing after extraction; delete {} and run again",
                p.display(),
                sdk.display()
            );
        }
        Ok(found)
    }
}

fn sha256_matches(path: &Path, want: &str) -> bool {
    if !path.exists() {
        return false;
    }
    match util::output(Command::new("sha256sum").arg(path)) {
        Ok(out) => out.split_whitespace().next() == Some(want),
        Err(_) => false,
    }
}

/// The machine's Debian mirror, read from its apt sources.
fn debian_mirror() -> String {
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list.d/debian.sources") {
        for line in text.lines() {
            if let Some(uri) = line.strip_prefix("URIs:") {
                let uri = uri.split_whitespace().next().unwrap_or("");
                if !uri.is_empty() && !uri.contains("security") {
                    return uri.to_string();
                }
            }
        }
    }
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.first() == Some(&"deb") && !line.contains("security") {
                if let Some(uri) = fields.iter().find(|f| f.contains("://")) {
                    return uri.to_string();
                }
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// Fetches the pinned .debs from bullseye and trixie through a private apt
/// configuration under target/ (the machine's own apt state is untouched and
/// nothing is installed).
fn download_pinned(debs: &Path) -> Result<()> {
    if !util::is_root() {
        bail!(
            "the pinned dx / android.jar / framework-res .debs are not cached in {} and \
             fetching them needs root (apt drops privileges to _apt); run `sudo cargo xtask apk` once, \
             or copy {} there",
            debs.display(),
            PINNED.map(|d| d.file).join(", ")
        );
    }
    let apt = out_dir().join("apt");
    let _t = step(
        "fetching dx, android.jar and framework-res.apk (private apt config, bullseye + trixie)",
    );
    for sub in ["etc", "state/lists/partial", "cache/archives/partial"] {
        fs::create_dir_all(apt.join(sub))?;
    }
    let mirror = debian_mirror();
    let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
    fs::write(
        apt.join("etc/sources.list"),
        format!(
            "deb [signed-by={keyring}] {mirror} bullseye main\n\
             deb [signed-by={keyring}] {mirror} trixie main\n"
        ),
    )?;
    let apt_opts = |cmd: &mut Command| {
        cmd.arg("-qq")
            .arg("-o")
            .arg(format!(
                "Dir::Etc::SourceList={}",
                apt.join("etc/sources.list").display()
            ))
            .args(["-o", "Dir::Etc::SourceParts=/dev/null"])
            .arg("-o")
            .arg(format!("Dir::State={}", apt.join("state").display()))
            .arg("-o")
            .arg(format!("Dir::Cache={}", apt.join("cache").display()));
    };
    let mut update = Command::new("apt-get");
    apt_opts(&mut update);
    util::run(update.arg("update")).context(
        "private apt-get update failed; check that the Debian mirror in /etc/apt is reachable",
    )?;
    // apt downloads as _apt; without this it warns "unsandboxed as root".
    let _ = Command::new("chown").arg("_apt").arg(debs).status();
    let mut download = Command::new("apt-get");
    apt_opts(&mut download);
    download
        .arg("download")
        .args(PINNED.iter().map(|d| d.spec))
        .current_dir(debs);
    util::run(&mut download).context(
        "apt-get download of the pinned packages failed; if bullseye left the mirror, \
         libandroid-23-java is still in sid but dalvik-exchange must come from an archive copy",
    )?;
    Ok(())
}

// ---------------------------------------------------------------- build

/// Builds the unsigned, aligned APK in `build` and returns its path.
fn build_unsigned(sdk: &Sdk, build: &Path) -> Result<PathBuf> {
    let app = app_dir();
    recreate(build)?;
    for sub in ["gen", "classes", "dex", "stubs"] {
        fs::create_dir_all(build.join(sub))?;
    }
    {
        let _t = step("aapt2: compiling and linking resources");
        util::run(
            Command::new("aapt2")
                .args(["compile", "--dir"])
                .arg(app.join("res"))
                .arg("-o")
                .arg(build.join("res.zip")),
        )?;
        let out = Command::new("aapt2")
            .arg("link")
            .arg("-I")
            .arg(&sdk.framework_res)
            .arg("--manifest")
            .arg(app.join("AndroidManifest.xml"))
            .args(["--min-sdk-version", "24", "--target-sdk-version", "34"])
            .arg("--java")
            .arg(build.join("gen"))
            .arg("-o")
            .arg(build.join("base.apk"))
            .arg(build.join("res.zip"))
            .output()?;
        // "Unknown chunk type '200'" is expected with the API 33 framework-res.apk.
        let stderr = String::from_utf8_lossy(&out.stderr);
        for line in stderr.lines() {
            if !line.contains("Unknown chunk type '200'") {
                eprintln!("{line}");
            }
        }
        ensure!(out.status.success(), "aapt2 link failed (see above)");
    }
    {
        // Compile-only stubs of newer platform classes (authenticator/stubs/):
        // on javac's class path, never given to dx, so the phone's class runs.
        let _t = step("javac: compile-only stubs of newer platform classes");
        util::run(
            Command::new("javac")
                .args(["-source", "8", "-target", "8", "-encoding", "UTF-8"])
                .arg("-bootclasspath")
                .arg(&sdk.android_jar)
                .args(["-Xlint:all,-options", "-Werror"])
                .arg("-d")
                .arg(build.join("stubs"))
                .args(java_files(&[app.join("stubs")])?),
        )?;
    }
    {
        let _t = step("javac: app sources against android.jar (API 23) and ZXing");
        let sources = java_files(&[app.join("src"), build.join("gen")])?;
        util::run(
            Command::new("javac")
                .args(["-source", "8", "-target", "8", "-encoding", "UTF-8"])
                .arg("-bootclasspath")
                .arg(&sdk.android_jar)
                .arg("-cp")
                .arg(format!("{ZXING_JAR}:{}", build.join("stubs").display()))
                .args(["-Xlint:all,-options,-deprecation", "-Werror"])
                .arg("-d")
                .arg(build.join("classes"))
                .args(&sources),
        )?;
    }
    let dex = build.join("dex/classes.dex");
    {
        let _t = step("dx: dexing the app and ZXing (min-sdk 24)");
        util::run(
            Command::new("java")
                .arg("-jar")
                .arg(&sdk.dx_jar)
                .args(["--dex", "--min-sdk-version=24"])
                .arg(format!("--output={}", dex.display()))
                .arg(build.join("classes"))
                .arg(ZXING_JAR),
        )?;
        let header = util::output(Command::new("dexdump").arg("-f").arg(&dex))?;
        ensure!(
            header
                .lines()
                .any(|l| l.starts_with("magic") && l.contains("037")),
            "dx did not write a dex 037 file (was --min-sdk-version=24 ignored?)"
        );
        // A platform class in the dex would shadow the phone's own (a stub that throws).
        let classes = util::output(Command::new("dexdump").arg(&dex))?;
        if let Some(line) = classes
            .lines()
            .find(|l| l.contains("Class descriptor") && l.contains("'Landroid/"))
        {
            bail!(
                "the dex defines a platform class ({}); stubs must never be dexed",
                line.trim()
            );
        }
    }
    let unsigned = build.join("unsigned.apk");
    let aligned = build.join("aligned.apk");
    fs::copy(build.join("base.apk"), &unsigned)?;
    // Fixed mtime, permissions and no extra fields: the zip entry is reproducible.
    set_permissions_644(&dex)?;
    util::run(
        Command::new("touch")
            .args(["-t", "198001010000"])
            .arg(&dex)
            .env("TZ", "UTC"),
    )?;
    util::run(
        Command::new("zip")
            .args(["-X", "-9", "-q"])
            .arg(&unsigned)
            .arg("classes.dex")
            .current_dir(build.join("dex"))
            .env("TZ", "UTC"),
    )?;
    util::run(
        Command::new("zipalign")
            .args(["-p", "-f", "4"])
            .arg(&unsigned)
            .arg(&aligned),
    )?;
    Ok(aligned)
}

fn set_permissions_644(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))?;
    Ok(())
}

/// Builds, signs with the debug key, verifies and prints the badging.
fn build_and_sign(sdk: &Sdk) -> Result<PathBuf> {
    let _t = step("building the authenticator APK");
    let build = out_dir().join("build");
    let aligned = build_unsigned(sdk, &build)?;
    let key = SigningKey::find()?;
    let apk = apk_path();
    key.sign(&aligned, &apk)?;
    util::run(
        Command::new("apksigner")
            .args(["verify", "--verbose"])
            .arg(&apk),
    )
    .context("apksigner verify rejected the signed APK")?;
    util::run(Command::new("zipalign").args(["-c", "4"]).arg(&apk))
        .context("the signed APK is not 4-byte aligned")?;
    let badging = util::output(Command::new("aapt").args(["dump", "badging"]).arg(&apk))?;
    print!("{badging}");
    println!(
        "signer certificate SHA-256: {} (must never change between builds)",
        certificate_sha256(&apk)?
    );
    ensure!(
        !badging.contains("android.permission.INTERNET"),
        "the APK requests INTERNET; the authenticator must never do so"
    );
    let dex_header = util::output(
        Command::new("dexdump")
            .arg("-f")
            .arg(build.join("dex/classes.dex")),
    )?;
    let field = |name: &str| {
        dex_header
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let size = fs::metadata(&apk)?.len();
    println!(
        "apk: {} ({} bytes, {:.1} KiB; unsigned {} bytes); dex: {} classes, {} method ids",
        apk.display(),
        size,
        size as f64 / 1024.0,
        fs::metadata(&aligned)?.len(),
        field("class_defs_size"),
        field("method_ids_size"),
    );
    Ok(apk)
}

/// The key that signs the APK: the release key named by the environment, or
/// the debug key in `~/.android/debug.keystore`.
struct SigningKey {
    keystore: PathBuf,
    alias: String,
    /// apksigner password specs (`pass:…` or `env:VAR`), never printed.
    store_pass: String,
    key_pass: String,
    what: String,
}

impl SigningKey {
    fn find() -> Result<SigningKey> {
        if let Some(ks) = std::env::var_os(ENV_KEYSTORE).filter(|v| !v.is_empty()) {
            let keystore = PathBuf::from(ks);
            ensure!(
                keystore.is_file(),
                "{ENV_KEYSTORE}={} is not a file",
                keystore.display()
            );
            ensure!(
                std::env::var_os(ENV_KEYSTORE_PASS).is_some(),
                "{ENV_KEYSTORE} is set but {ENV_KEYSTORE_PASS} (the keystore password) is not"
            );
            let alias = std::env::var(ENV_KEY_ALIAS).with_context(|| {
                format!("{ENV_KEYSTORE} is set but {ENV_KEY_ALIAS} (the key alias) is not")
            })?;
            let key_pass = if std::env::var_os(ENV_KEY_PASS).is_some() {
                ENV_KEY_PASS
            } else {
                ENV_KEYSTORE_PASS
            };
            return Ok(SigningKey {
                what: format!("the release key '{alias}' of {}", keystore.display()),
                keystore,
                alias,
                // apksigner reads these itself: the passwords never reach a command line.
                store_pass: format!("env:{ENV_KEYSTORE_PASS}"),
                key_pass: format!("env:{key_pass}"),
            });
        }
        let keystore = debug_keystore()?;
        Ok(SigningKey {
            what: format!("the debug key of {}", keystore.display()),
            keystore,
            alias: DEBUG_KEY_ALIAS.into(),
            store_pass: format!("pass:{DEBUG_KEY_PASS}"),
            key_pass: format!("pass:{DEBUG_KEY_PASS}"),
        })
    }

    fn sign(&self, aligned: &Path, out: &Path) -> Result<()> {
        let _t = step(&format!("apksigner: signing with {}", self.what));
        util::run(
            Command::new("apksigner")
                .arg("sign")
                .arg("--ks")
                .arg(&self.keystore)
                .args(["--ks-pass", &self.store_pass])
                .args(["--ks-key-alias", &self.alias])
                .args(["--key-pass", &self.key_pass])
                .args(["--v4-signing-enabled", "false"])
                .arg("--out")
                .arg(out)
                .arg(aligned),
        )
    }
}

/// The debug keystore where the Android tools keep theirs, created once.
/// A key left under target/ by an older `cargo xtask apk` is moved there, so
/// phones that installed such a build can still take updates.
fn debug_keystore() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: cannot find ~/.android/debug.keystore")?;
    let dir = PathBuf::from(home).join(".android");
    let ks = dir.join("debug.keystore");
    if ks.exists() {
        return Ok(ks);
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let old = out_dir().join("debug.keystore");
    if old.is_file() {
        let _t = step("moving the debug key from target/ to ~/.android/debug.keystore");
        fs::copy(&old, &ks)?;
        fs::remove_file(&old)?;
        return Ok(ks);
    }
    let _t = step("keytool: creating the debug signing key ~/.android/debug.keystore (once)");
    util::run(
        Command::new("keytool")
            .args(["-genkeypair", "-keystore"])
            .arg(&ks)
            .args(["-storetype", "PKCS12", "-storepass", DEBUG_KEY_PASS])
            .args(["-keypass", DEBUG_KEY_PASS, "-alias", DEBUG_KEY_ALIAS])
            .args(["-keyalg", "RSA", "-keysize", "2048", "-validity", "10000"])
            .args(["-dname", "CN=Android Debug,O=Android,C=US"]),
    )?;
    Ok(ks)
}

/// The SHA-256 digest of the signer's certificate, from `apksigner verify --print-certs`.
pub fn certificate_sha256(apk: &Path) -> Result<String> {
    let out = util::output(
        Command::new("apksigner")
            .args(["verify", "--print-certs"])
            .arg(apk),
    )?;
    out.lines()
        .find_map(|l| {
            l.split_once("certificate SHA-256 digest:")
                .map(|(_, d)| d.trim().to_string())
        })
        .with_context(|| {
            format!(
                "apksigner printed no certificate digest for {}",
                apk.display()
            )
        })
}

/// Builds the unsigned APK again in a second folder and compares the bytes
/// with the first build.
fn check_reproducible(sdk: &Sdk) -> Result<()> {
    let _t = step("reproducibility: second build in another folder");
    let first = out_dir().join("build/aligned.apk");
    ensure!(first.exists(), "build the APK first");
    let second = build_unsigned(sdk, &out_dir().join("build-repro"))?;
    let a = fs::read(&first)?;
    let b = fs::read(&second)?;
    if a != b {
        bail!(
            "the unsigned APK is not reproducible: {} and {} differ \
             (compare them with `unzip -lv` and `zipinfo -v`)",
            first.display(),
            second.display()
        );
    }
    let digest = util::output(Command::new("sha256sum").arg(&first))?;
    println!(
        "reproducible: two builds gave the same unsigned APK, sha256 {}",
        digest.split_whitespace().next().unwrap_or("?")
    );
    // The key is found again from scratch, as a later build would find it.
    let signed = out_dir().join("build-repro/signed.apk");
    SigningKey::find()?.sign(&second, &signed)?;
    let (one, two) = (
        certificate_sha256(&apk_path())?,
        certificate_sha256(&signed)?,
    );
    ensure!(
        one == two,
        "the second build was signed with another certificate ({two}, first {one})"
    );
    println!("same signer certificate on both builds: {one}");
    Ok(())
}

// ---------------------------------------------------------------- tests

/// Compiles the core and its JUnit tests for the JVM and runs them; a failing
/// test fails the command.
fn junit() -> Result<()> {
    ensure_bookworm_tools()?;
    let classes = out_dir().join("test-classes");
    let tests_dir = app_dir().join("test");
    let mut dirs = core_sources_dirs();
    dirs.push(tools_dir());
    let mut sources = java_files(&dirs)?;
    let test_sources = java_files(std::slice::from_ref(&tests_dir))?;
    sources.extend(test_sources.iter().cloned());
    {
        let _t = step("javac: core + JUnit tests");
        recreate(&classes)?;
        util::run(
            Command::new("javac")
                .args([
                    "--release",
                    "8",
                    "-encoding",
                    "UTF-8",
                    "-Xlint:all",
                    "-Werror",
                ])
                .args(["-cp", JUNIT_JAR])
                .arg("-d")
                .arg(&classes)
                .args(&sources),
        )?;
    }
    let test_classes: Vec<String> = test_sources
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("Test.java"))
        })
        .map(|p| {
            let rel = p.strip_prefix(&tests_dir).expect("test source under test/");
            rel.with_extension("")
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, ".")
        })
        .collect();
    ensure!(
        !test_classes.is_empty(),
        "no *Test.java under {}",
        tests_dir.display()
    );
    let _t = step(&format!("JUnit: {} test classes", test_classes.len()));
    util::run(
        Command::new("java")
            .arg("-cp")
            .arg(format!("{}:{JUNIT_JAR}", classes.display()))
            .arg(format!(
                "-Dtwofa.testdata={}",
                util::root().join("testdata").display()
            ))
            .arg(format!(
                "-Dtwofa.authenticator.testdata={}",
                app_dir().join("testdata").display()
            ))
            .arg("org.junit.runner.JUnitCore")
            .args(&test_classes),
    )
    .context("the authenticator's JUnit tests failed (see FAILURES above)")?;
    Ok(())
}

// ---------------------------------------------------------------- helpers

fn recreate(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(())
}

/// Every .java file under `dirs`, sorted so javac sees a stable order.
fn java_files(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "java") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for dir in dirs {
        walk(dir, &mut out)?;
    }
    out.sort();
    Ok(out)
}
