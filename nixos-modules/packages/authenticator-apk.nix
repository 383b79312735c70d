# The Android authenticator, built the way `cargo xtask apk` builds it (no
# Gradle): aapt2 compile + link, javac against android.jar, dex, zip the dex
# in with fixed timestamps, zipalign (signing happens outside, see below).
# Here the tools come from nixpkgs' androidenv (build-tools 34.0.0 with d8
# instead of Debian's dx, the API 34 android.jar instead of Debian's API 23
# jar + framework-res).
#
# The output is the unsigned, aligned APK only (reproducible). No key is ever
# generated inside the build: a key made here would change with every build,
# and an APK signed with another key cannot update the installed app (only
# replace it after an uninstall, which wipes every account). Sign it outside
# the store with the operator's own key, always the same one:
#
#   apksigner sign --ks /path/to/release.keystore --ks-key-alias twofa \
#     --v4-signing-enabled false \
#     --out twofa-authenticator.apk result/twofa-authenticator-unsigned.apk
#   apksigner verify --print-certs twofa-authenticator.apk
#
# (the README's "Phone authenticator" section has the whole procedure).
{
  lib,
  stdenvNoCC,
  androidenv,
  jdk17_headless,
  zxing,
  zip,
  src,
}: let
  buildToolsVersion = "34.0.0";
  platformVersion = "34";
  sdk =
    (androidenv.composeAndroidPackages {
      buildToolsVersions = [buildToolsVersion];
      platformVersions = [platformVersion];
      includeEmulator = false;
      includeSystemImages = false;
      includeNDK = false;
      includeSources = false;
    })
    .androidsdk;
  sdkRoot = "${sdk}/libexec/android-sdk";
  tools = "${sdkRoot}/build-tools/${buildToolsVersion}";
  androidJar = "${sdkRoot}/platforms/android-${platformVersion}/android.jar";
  zxingJar = "${zxing}/lib/java/core-${zxing.version}.jar";
in
  stdenvNoCC.mkDerivation {
    pname = "twofa-authenticator";
    version = "0.1.0";
    inherit src;

    nativeBuildInputs = [jdk17_headless zip];

    buildPhase = ''
      runHook preBuild
      mkdir -p build/gen build/classes build/dex

      ${tools}/aapt2 compile --dir res -o build/res.zip
      ${tools}/aapt2 link -I ${androidJar} --manifest AndroidManifest.xml \
        --min-sdk-version 24 --target-sdk-version 34 \
        --java build/gen -o build/base.apk build/res.zip

      find src build/gen -name '*.java' | sort > build/sources.txt
      javac -source 8 -target 8 -encoding UTF-8 \
        -bootclasspath ${androidJar} -cp ${zxingJar} \
        -Xlint:all,-options,-deprecation \
        -d build/classes @build/sources.txt

      # (cargo xtask apk adds -Werror against its API 23 jar; the API 34 jar
      # here may warn about other APIs, which must not break the package.)
      jar --create --file build/classes.jar --date=1980-01-01T00:00:02Z -C build/classes .
      ${tools}/d8 --release --min-api 24 --lib ${androidJar} \
        --output build/dex build/classes.jar ${zxingJar}

      cp build/base.apk build/unsigned.apk
      chmod 0644 build/dex/classes.dex
      touch -t 198001010000 build/dex/classes.dex
      (cd build/dex && TZ=UTC zip -X -9 -q ../unsigned.apk classes.dex)
      ${tools}/zipalign -p -f 4 build/unsigned.apk build/aligned.apk

      runHook postBuild
    '';

    doCheck = true;
    checkPhase = ''
      ${tools}/zipalign -c -p 4 build/aligned.apk
      if ${tools}/aapt2 dump permissions build/aligned.apk | grep -q android.permission.INTERNET; then
        echo "the APK requests INTERNET; the authenticator must never do so" >&2
        exit 1
      fi
    '';

    installPhase = ''
      install -Dm0644 build/aligned.apk $out/twofa-authenticator-unsigned.apk
    '';

    meta = {
      description = "twofa's Android TOTP authenticator (APK)";
      license = lib.licenses.agpl3Plus;
      platforms = ["x86_64-linux"];
    };
  }
