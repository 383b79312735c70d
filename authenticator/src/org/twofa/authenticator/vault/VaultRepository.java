package org.twofa.authenticator.vault;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.crypto.SecretKey;

/**
 * Loads and saves the vault through a {@link VaultFile}: {@link VaultCodec}
 * bytes sealed by {@link VaultCipher}.
 *
 * <p>Crash safety on Android 7 to 10: AtomicFile there renames
 * {@code vault.bin} to {@code vault.bin.bak} before it writes, and deletes
 * the backup only once the new file is complete. A crash in that window
 * leaves no {@code vault.bin} at all. "Has a vault been saved?" therefore
 * looks at the backup as well, and reading always goes through
 * {@link VaultFile#readFully()}, which restores the backup first; so the
 * accounts come back instead of an empty list whose next save would delete
 * the backup.
 */
public final class VaultRepository {
    /** The key that seals the vault: the Android Keystore key on the phone. */
    public interface KeySource {
        SecretKey key() throws GeneralSecurityException, IOException;
    }

    /** Set-aside copies are named {@code vault.bin.unreadable-<stamp>}. */
    public static final String SET_ASIDE_MARK = ".unreadable-";

    private final VaultFile file;
    private final KeySource keys;

    public VaultRepository(VaultFile file, KeySource keys) {
        this.file = file;
        this.keys = keys;
    }

    /** True when a vault was ever saved: the file, or the backup of an interrupted write, exists. */
    public boolean savedBefore() {
        File base = file.baseFile();
        return base.exists() || VaultFile.legacyBackup(base).exists();
    }

    /** The saved vault, or an empty one when none was ever saved. Never writes anything. */
    public Vault load() throws IOException, GeneralSecurityException, VaultFormatException {
        if (!savedBefore()) {
            return new Vault();
        }
        return VaultCodec.decode(VaultCipher.open(keys.key(), file.readFully()));
    }

    public void save(Vault vault) throws IOException, GeneralSecurityException {
        file.write(VaultCipher.seal(keys.key(), VaultCodec.encode(vault)));
    }

    /**
     * Renames an unreadable vault (and the backup of an interrupted write,
     * if any) to {@code vault.bin.unreadable-<stamp>}, so that a new vault
     * can start. Nothing is deleted. Returns the new name of the vault file.
     */
    public File setAside(String stamp) throws IOException {
        File base = file.baseFile();
        File aside = new File(base.getPath() + SET_ASIDE_MARK + stamp);
        if (aside.exists()) {
            throw new IOException(aside.getName() + " already exists; nothing was renamed");
        }
        File backup = VaultFile.legacyBackup(base);
        if (backup.exists() && !backup.renameTo(new File(aside.getPath() + ".bak"))) {
            throw new IOException("could not rename " + backup.getName() + "; nothing was deleted");
        }
        if (base.exists() && !base.renameTo(aside)) {
            throw new IOException("could not rename " + base.getName() + "; nothing was deleted");
        }
        return aside;
    }

    /** The files {@link #setAside} made, oldest first (stamps sort by time). */
    public List<File> setAsideFiles() {
        File base = file.baseFile();
        String prefix = base.getName() + SET_ASIDE_MARK;
        List<File> out = new ArrayList<File>();
        File[] all = base.getParentFile() == null ? null : base.getParentFile().listFiles();
        if (all == null) {
            return out;
        }
        Arrays.sort(all);
        for (File f : all) {
            if (f.getName().startsWith(prefix) && !f.getName().endsWith(".bak")) {
                out.add(f);
            }
        }
        return out;
    }

    /** Reads a set-aside vault with the current key (e.g. after a passing Keystore error). */
    public Vault readSetAside(File aside) throws IOException, GeneralSecurityException, VaultFormatException {
        return VaultCodec.decode(VaultCipher.open(keys.key(), readAll(aside)));
    }

    /** Not java.nio.file.Files: Android has it only from API 26 on. */
    static byte[] readAll(File f) throws IOException {
        FileInputStream in = new FileInputStream(f);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }
}
