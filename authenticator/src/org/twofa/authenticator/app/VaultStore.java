package org.twofa.authenticator.app;

import android.content.Context;
import android.util.AtomicFile;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import org.twofa.authenticator.vault.VaultFile;
import org.twofa.authenticator.vault.VaultRepository;

/**
 * The vault on disk: a {@link VaultRepository} over {@code vault.bin} in the
 * no-backup folder, written through AtomicFile, sealed with the Keystore key
 * of {@link KeystoreKeys}.
 */
final class VaultStore {
    static final String FILE_NAME = "vault.bin";

    private VaultStore() {}

    static VaultRepository open(Context context) {
        return new VaultRepository(new AtomicVaultFile(new File(context.getNoBackupFilesDir(), FILE_NAME)),
                KeystoreKeys.vaultKey(context));
    }

    /** {@link VaultFile} over the platform's AtomicFile (whose readFully restores a backup). */
    private static final class AtomicVaultFile implements VaultFile {
        private final AtomicFile file;

        AtomicVaultFile(File base) {
            file = new AtomicFile(base);
        }

        @Override
        public File baseFile() {
            return file.getBaseFile();
        }

        @Override
        public byte[] readFully() throws IOException {
            return file.readFully();
        }

        @Override
        public void write(byte[] data) throws IOException {
            FileOutputStream out = file.startWrite();
            try {
                out.write(data);
                file.finishWrite(out);
            } catch (IOException e) {
                file.failWrite(out);
                throw e;
            }
        }
    }
}
