package org.twofa.authenticator.vault;

import java.io.File;
import java.io.IOException;

/**
 * The file layer under the vault, as {@code android.util.AtomicFile} offers
 * it. On the phone it is AtomicFile itself; on the JVM the tests use a
 * stand-in that behaves like the AtomicFile of Android 7 to 10, with a crash
 * between any two of its steps.
 */
public interface VaultFile {
    /** Where the vault lives; its backup and set-aside copies are named after it. */
    File baseFile();

    /** The content, after restoring a backup left by an interrupted write. */
    byte[] readFully() throws IOException;

    /** Replaces the content atomically: afterwards the old or the new bytes are readable, never neither. */
    void write(byte[] data) throws IOException;

    /**
     * The backup that AtomicFile on Android 7 to 10 (API 24 to 29) makes by
     * renaming the vault before a write, and that {@link #readFully()} puts
     * back when the write never finished.
     */
    static File legacyBackup(File base) {
        return new File(base.getPath() + ".bak");
    }
}
